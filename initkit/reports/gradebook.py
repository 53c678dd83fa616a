"""nbgrader's gradebook: one auto score per criterion cell, written through nbgrader's own API.

The assignment's cells are recorded as `nbgrader generate_assignment` records them; new students
and submissions are added in one transaction; only auto scores change, so a grader's manual
scores and comments are kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
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


class GradebookError(RuntimeError):
    """The gradebook database cannot be opened or written at all (not one student's problem)."""


@dataclass
class Written:
    db_url: str
    failed: dict[str, str] = field(default_factory=dict)   # student -> why their row was not written


def write_gradebook(results: list[dict], course: "Course", *, db_url: str | None = None,
                    timestamps: dict[str, str] | None = None) -> Written:
    """Record each result's criterion scores as nbgrader auto scores.

    Creates missing students and submissions; updates auto_score only, so a grader's manual
    scores (and the written answers' grades) are kept. Writes in short transactions of
    CHUNK students that wait for other writers (formgrader, `nbgrader`, another run) and are
    retried when one of them got there first; a student whose row still cannot be written is
    in `Written.failed`, and every other student's row is written.
    """
    from nbgrader.api import Gradebook

    db_url = db_url or default_db_url(course)
    course_id = course.nbgrader_config().CourseDirectory.get("course_id") or "default_course"
    stamps = {r["student"]: (timestamps or {}).get(r["student"]) for r in results}
    written = Written(db_url)
    with alembic_on_path(), warnings.catch_warnings():
        # nbgrader's models trip SQLAlchemy 2's autoflush warnings ("not in session"); the rows
        # are fine
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb = _open(Gradebook, db_url, course_id)
        try:
            _wait_for_other_writers(gb)
            nb_name = _retrying(gb, lambda: ensure_assignment(gb, course, db_url))
            for start in range(0, len(results), CHUNK):
                chunk = results[start:start + CHUNK]
                try:
                    _retrying(gb, lambda: _write_rows(gb, course, nb_name, chunk, stamps))
                except Exception:  # noqa: BLE001 - find the student(s) it was, write the others
                    for r in chunk:
                        try:
                            _retrying(gb, lambda: _write_rows(gb, course, nb_name, [r], stamps))
                        except Exception as exc:  # noqa: BLE001
                            written.failed[r["student"]] = reason(exc)
        except _DatabaseBusy as exc:
            raise GradebookError(f"{db_url}: {exc}") from exc
        finally:
            gb.close()
    return written


CHUNK = 250                 # students per transaction: the database is locked for ~0.5 s at most
BUSY_TIMEOUT_MS = 30_000    # how long a write waits for another writer's transaction
RETRIES = 5


class _DatabaseBusy(Exception):
    pass


def reason(exc: BaseException) -> str:
    """One line for a database error: the driver's own message, without SQLAlchemy's SQL echo
    and documentation link."""
    inner = getattr(exc, "orig", None) or exc
    text = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _open(gradebook_class, db_url: str, course_id: str):
    """nbgrader's Gradebook; a second program creating the same database at the same moment
    ("table ... already exists", "database is locked") is waited out and the open tried again."""
    import time

    from sqlalchemy.exc import OperationalError

    for attempt in range(RETRIES):
        try:
            return gradebook_class(db_url, course_id=course_id)
        except OperationalError as exc:
            if attempt == RETRIES - 1 or not any(w in str(exc) for w in ("already exists", "locked")):
                raise GradebookError(f"{db_url}: cannot open the gradebook ({reason(exc)})") from exc
            time.sleep(0.2 * 2 ** attempt)
        except Exception as exc:  # noqa: BLE001 - any driver or migration error: say which database
            raise GradebookError(f"{db_url}: cannot open the gradebook ({reason(exc)})") from exc


def _wait_for_other_writers(gb) -> None:
    """SQLite: each transaction takes the write lock when it begins (BEGIN IMMEDIATE) and waits up
    to BUSY_TIMEOUT_MS for it. Taking it later, at the first write, can deadlock with another
    writer (each waits for the other), which SQLite answers with an immediate "locked" error."""
    from sqlalchemy import event

    if gb.engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None          # SQLAlchemy emits BEGIN itself (below)
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(gb.engine, "connect", on_connect)
    event.listen(gb.engine, "begin", on_begin)
    gb.db.rollback()
    gb.engine.dispose()          # connections made before the listeners: closed, made again with them


def _retrying(gb, write):
    """Run `write` and commit; on a conflict with another writer, roll back and run it again."""
    import time

    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(RETRIES):
        try:
            value = write()
            gb.db.commit()
            return value
        except (IntegrityError, OperationalError) as exc:
            gb.db.rollback()
            if attempt == RETRIES - 1:
                if isinstance(exc, OperationalError) and "locked" in str(exc):
                    raise _DatabaseBusy("the gradebook stayed locked by another program for "
                                        f"{RETRIES} x {BUSY_TIMEOUT_MS / 1000:g} s") from exc
                raise
            time.sleep(0.05 * 2 ** attempt)
        except BaseException:
            gb.db.rollback()
            raise


def _write_rows(gb, course: "Course", nb_name: str, results: list[dict], stamps: dict) -> None:
    """Submissions (created when missing), timestamps and auto scores of `results`; no commit."""
    from nbgrader.api import Assignment, SubmittedAssignment
    from nbgrader.utils import parse_utc

    assignment = course.assignment
    students = [r["student"] for r in results]
    submitted = {s.student_id: s for s in
                 gb.db.query(SubmittedAssignment).join(Assignment)
                 .filter(Assignment.name == assignment, SubmittedAssignment.student_id.in_(students))}
    for student, submission in submitted.items():
        if stamps.get(student):
            submission.timestamp = parse_utc(stamps[student])
    add_submissions(gb, assignment, [s for s in students if s not in submitted], stamps)
    grades = _criterion_grades(gb, assignment, nb_name, list(course.criteria), students)
    for r in results:
        for name in course.criteria:
            grade = grades[r["student"], name]
            grade.auto_score = float(r["criteria"][name]["score"])
            # as nbgrader's SaveAutoGrades: a manual override needs a second look
            grade.needs_manual_grade = grade.manual_score is not None


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
    known = {s.id: s for s in gb.db.query(Student).filter(Student.id.in_(students))}
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


def _criterion_grades(gb, assignment: str, notebook: str, criteria: list[str],
                      students: list[str]) -> dict:
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
                    BaseCell.name.in_(criteria), SubmittedAssignment.student_id.in_(students)))
    return {(student, name): grade for student, name, grade in rows}


