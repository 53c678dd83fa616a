"""nbgrader's gradebook: one auto score per criterion cell, written through nbgrader's own API.

The assignment's cells are recorded as `nbgrader generate_assignment` records them; new students
and submissions are added in one transaction; only auto scores change, so a grader's manual
scores and comments are kept.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ..nbgrader_env import alembic_on_path

if TYPE_CHECKING:
    from ..course import Course


def default_db_url(course: "Course") -> str:
    url = course.nbgrader_config().CourseDirectory.get("db_url")
    return url or f"sqlite:///{(course.root / 'gradebook.db').resolve()}"


def ensure_assignment(gb, course: "Course", db_url: str) -> str:
    """Make sure the gradebook knows the assignment, its notebook and all its graded cells.

    If the notebook is already there with every criterion's test cell (e.g. the instructor ran
    `nbgrader generate_assignment`), nothing changes. Otherwise the source notebook goes through
    the steps generate_assignment runs before it saves cells (ClearSolutions, ComputeChecksums)
    and then nbgrader's own SaveCells, so the gradebook holds exactly what generate_assignment
    would have put there: the criteria's test cells, the manually graded answers, their source.
    Returns the notebook's name.
    """
    import nbformat
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import ClearSolutions, ComputeChecksums, SaveCells

    source, assignment = course.source_notebook, course.assignment
    nb = nbformat.read(str(source), as_version=4)
    name = source.stem
    try:
        notebook = gb.find_notebook(name, assignment)
        have = {c.name: c.max_score for c in notebook.grade_cells}
        if all(have.get(c) == pts for c, pts in course.criteria.items()):
            return name
    except MissingEntry:
        pass
    cfg = course.nbgrader_config()
    course_id = cfg.CourseDirectory.get("course_id")
    gb.update_or_create_assignment(assignment, **({"course_id": course_id} if course_id else {}))
    resources = {"nbgrader": {"notebook": name, "assignment": assignment, "db_url": db_url}}
    try:
        for step in (ClearSolutions(config=cfg), ComputeChecksums(config=cfg), SaveCells(config=cfg)):
            nb, resources = step.preprocess(nb, resources)
    except RuntimeError as exc:  # SaveCells refuses to change cells once submissions exist
        raise RuntimeError(f"{db_url}: cannot record the cells of {source}: {exc}") from exc
    return name


def write_gradebook(results: list[dict], course: "Course", *, db_url: str | None = None,
                    timestamps: dict[str, str] | None = None) -> str:
    """Record each result's criterion scores as nbgrader auto scores; returns the db URL.

    Creates missing students and submissions; updates auto_score only, so a grader's manual
    scores (and the written answers' grades) are kept.
    """
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    db_url = db_url or default_db_url(course)
    assignment = course.assignment
    course_id = course.nbgrader_config().CourseDirectory.get("course_id") or "default_course"
    timestamps = timestamps or {}
    with alembic_on_path(), warnings.catch_warnings(), Gradebook(db_url, course_id=course_id) as gb:
        # nbgrader's models trip SQLAlchemy 2's autoflush warnings ("not in session"); the rows
        # are fine
        warnings.filterwarnings("ignore", message=".*not in session.*")
        nb_name = ensure_assignment(gb, course, db_url)
        stamps = {r["student"]: timestamps.get(r["student"]) for r in results}
        submitted = {s.student_id: s for s in gb.find_assignment(assignment).submissions}
        for student, submission in submitted.items():
            if stamps.get(student):
                submission.timestamp = parse_utc(stamps[student])
        add_submissions(gb, assignment, [r["student"] for r in results if r["student"] not in submitted],
                        stamps)
        grades = _criterion_grades(gb, assignment, nb_name, list(course.criteria))
        for r in results:
            for name in course.criteria:
                grade = grades[r["student"], name]
                grade.auto_score = float(r["criteria"][name]["score"])
                # as nbgrader's SaveAutoGrades: a manual override needs a second look
                grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
    return db_url


def add_submissions(gb, assignment: str, students: list[str], stamps: dict[str, str | None]) -> None:
    """nbgrader's Gradebook.add_student (for those it lacks) and add_submission for each of
    `students`, in one transaction.

    Those methods commit once per call, and a commit expires every loaded object: the first
    grading of 1,000 students took 25 s in them. The rows are built here exactly as
    add_submission builds them (nbgrader 0.9; tests/test_reports.py compares the two).
    """
    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook
    from nbgrader.utils import parse_utc

    if not students:
        return
    target = gb.find_assignment(assignment)
    known = {s.id: s for s in gb.students}
    notebooks = [(nb, list(nb.grade_cells), list(nb.solution_cells), list(nb.task_cells))
                 for nb in target.notebooks]
    with gb.db.no_autoflush:      # nothing to read back until the one flush at the end
        for student_id in students:
            student = known.get(student_id)
            if student is None:
                student = known[student_id] = Student(id=student_id)
                gb.db.add(student)
            extra = {"timestamp": parse_utc(stamps[student_id])} if stamps.get(student_id) else {}
            submission = SubmittedAssignment(assignment=target, student=student, **extra)
            for notebook, grade_cells, solution_cells, task_cells in notebooks:
                nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                for cell in grade_cells:
                    Grade(cell_id=cell.id, notebook=nb)
                for cell in solution_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                for cell in task_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                    Grade(cell_id=cell.id, notebook=nb)
            gb.db.add(submission)
    gb.db.flush()


def _criterion_grades(gb, assignment: str, notebook: str, criteria: list[str]) -> dict:
    """{(student, criterion): Grade} of the assignment's notebook, in one query (walking
    submission -> notebook -> grades loads them a few rows at a time)."""
    from nbgrader.api import (Assignment, BaseCell, Grade, Notebook, SubmittedAssignment,
                              SubmittedNotebook)

    rows = (gb.db.query(SubmittedAssignment.student_id, BaseCell.name, Grade)
            .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(BaseCell, Grade.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment, Notebook.name == notebook,
                    BaseCell.name.in_(criteria)))
    return {(student, name): grade for student, name, grade in rows}


