"""Each submission's scores, read from nbgrader's gradebook as nbgrader itself counts them.

A grade's score is nbgrader's `Grade.score`: the manual score when a grader gave one (formgrader's
override), else the auto score, plus any extra credit. The raw score is their sum over the
assignment (nbgrader's `SubmittedAssignment.score`), the late penalty is nbgrader's
(`SubmittedAssignment.late_submission_penalty`, which `nbgrader autograde`'s AssignLatePenalties
step records), and the score is `max(0, raw - penalty)`, as nbgrader's own CSV export computes it.

An autograded cell is a grade cell that is no answer (nbgrader's "Autograder tests" cell, one of
initkit's criteria); everything else that carries points (manually graded answers, tasks) is
the manual part. The gradebook is read with a few queries per assignment, not one per student
(nbgrader's CSV export asks once per student and assignment, which takes minutes for a large
class: jupyter/nbgrader#799).
"""

from __future__ import annotations

import datetime
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:
    from ..course import Course


@dataclass(frozen=True)
class AssignmentCells:
    """What an assignment is worth, as the gradebook records it."""

    name: str
    duedate: datetime.datetime | None
    autograded: dict[str, float]      # column name -> max points, notebooks by name, cells in order
    max_score: float                  # every grade cell and task of every notebook


@dataclass(frozen=True)
class SubmissionTotals:
    """One student's scores on one assignment (zeros and no cells when nothing was submitted)."""

    assignment: str
    student: str
    first_name: str | None
    last_name: str | None
    email: str | None
    submitted: bool
    timestamp: datetime.datetime | None
    autograded: dict[str, float] = field(default_factory=dict)   # column name -> score
    manual_score: float = 0.0          # manually graded answers and tasks
    raw_score: float = 0.0             # everything, before the late penalty
    late_penalty: float = 0.0
    max_score: float = 0.0
    ungraded: tuple[str, ...] = ()     # cells still waiting for a grader (needs_manual_grade)

    @property
    def autograded_score(self) -> float:
        return sum(self.autograded.values())

    @property
    def score(self) -> float:
        """What the student gets: the raw score less the late penalty, never below zero."""
        return max(0.0, self.raw_score - self.late_penalty)


@contextmanager
def open_gradebook(course: "Course", db_url: str | None = None) -> Iterator:
    """nbgrader's Gradebook of `course` (its nbgrader config's db_url, else its gradebook.db), for
    reading. A SQLite file that does not exist is an error here: nbgrader would create an empty
    gradebook, and an export from it would say nobody submitted anything."""
    from nbgrader.api import Gradebook

    from ..course import CourseError
    from ..nbgrader_env import alembic_on_path
    from ..reports.gradebook import default_db_url, reason

    db_url = db_url or default_db_url(course)
    if db_url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(db_url[len("sqlite:///"):])
        if not path.is_file():
            raise CourseError(f"{path}: no gradebook (grade the assignment with `initkit grade` "
                              "first, or name the database with --db)")
    course_id = course.nbgrader_config().CourseDirectory.get("course_id") or "default_course"
    with alembic_on_path(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not in session.*")
        try:
            gb = Gradebook(db_url, course_id=course_id)
        except Exception as exc:  # noqa: BLE001 - any driver or migration error: say which database
            raise CourseError(f"{db_url}: cannot open the gradebook ({reason(exc)})") from exc
        try:
            yield gb
        finally:
            gb.close()


def _cells(found) -> AssignmentCells:
    names = _column_names(found)
    autograded: dict[str, float] = {}
    for notebook in found.notebooks:
        answers = {c.name for c in notebook.solution_cells}
        for cell in notebook.grade_cells:
            if cell.name not in answers:
                autograded[names[notebook.name, cell.name]] = float(cell.max_score or 0.0)
    return AssignmentCells(found.name, found.duedate, autograded, float(found.max_score or 0.0))


def _column_names(assignment) -> dict[tuple[str, str], str]:
    """(notebook, cell) -> the cell's column name: its name, or `notebook:name` when two notebooks
    of the assignment both have a graded cell of that name."""
    seen: dict[str, int] = {}
    for notebook in assignment.notebooks:
        for cell in notebook.grade_cells + notebook.task_cells:
            seen[cell.name] = seen.get(cell.name, 0) + 1
    return {(nb.name, c.name): c.name if seen[c.name] == 1 else f"{nb.name}:{c.name}"
            for nb in assignment.notebooks for c in nb.grade_cells + nb.task_cells}


def assignment_totals(gb, assignment: str, students: Iterable[str] | None = None, *,
                      include_missing: bool = False) -> tuple[AssignmentCells, list[SubmissionTotals]]:
    """The assignment's cells and each submission's totals, by student id.

    students         only these (default: everyone)
    include_missing  also a row of zeros for each student of the gradebook who submitted nothing
                     (as nbgrader's CSV export does)
    Raises nbgrader's MissingEntry if the gradebook does not know the assignment.
    """
    from nbgrader.api import (BaseCell, Grade, Notebook, Student, SubmittedAssignment,
                              SubmittedNotebook)

    found = gb.find_assignment(assignment)
    cells, names = _cells(found), _column_names(found)
    wanted = None if students is None else sorted(set(students))

    subs = (gb.db.query(SubmittedAssignment.student_id, SubmittedAssignment.timestamp,
                        SubmittedAssignment.late_submission_penalty, Student.first_name,
                        Student.last_name, Student.email)
            .join(Student, SubmittedAssignment.student_id == Student.id)
            .filter(SubmittedAssignment.assignment_id == found.id))
    grades = (gb.db.query(SubmittedAssignment.student_id, Notebook.name, BaseCell.name,
                          Grade.score, Grade.needs_manual_grade)
              .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
              .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
              .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
              .join(BaseCell, Grade.cell_id == BaseCell.id)
              .filter(SubmittedAssignment.assignment_id == found.id)
              .order_by(Notebook.name))
    if wanted is not None:
        subs = subs.filter(SubmittedAssignment.student_id.in_(wanted))
        grades = grades.filter(SubmittedAssignment.student_id.in_(wanted))

    per_student: dict[str, dict] = {}
    for student, nb_name, cell, score, needs_manual in grades:
        acc = per_student.setdefault(student, {"auto": {}, "manual": 0.0, "raw": 0.0, "ungraded": []})
        score = float(score or 0.0)
        acc["raw"] += score
        column = names.get((nb_name, cell), cell)
        if column in cells.autograded:
            acc["auto"][column] = score
        else:
            acc["manual"] += score
        if needs_manual:
            acc["ungraded"].append(column)

    rows = []
    submitted = set()
    for student, timestamp, penalty, first, last, email in subs:
        submitted.add(student)
        acc = per_student.get(student, {"auto": {}, "manual": 0.0, "raw": 0.0, "ungraded": []})
        rows.append(SubmissionTotals(
            assignment=cells.name, student=student, first_name=first, last_name=last, email=email,
            submitted=True, timestamp=timestamp,
            autograded={c: acc["auto"].get(c, 0.0) for c in cells.autograded},
            manual_score=acc["manual"], raw_score=acc["raw"], late_penalty=float(penalty or 0.0),
            max_score=cells.max_score, ungraded=tuple(acc["ungraded"])))
    if include_missing:
        everyone = gb.db.query(Student.id, Student.first_name, Student.last_name, Student.email)
        if wanted is not None:
            everyone = everyone.filter(Student.id.in_(wanted))
        rows += [SubmissionTotals(assignment=cells.name, student=sid, first_name=first,
                                  last_name=last, email=email, submitted=False, timestamp=None,
                                  max_score=cells.max_score)
                 for sid, first, last, email in everyone if sid not in submitted]
    return cells, sorted(rows, key=lambda r: r.student)
