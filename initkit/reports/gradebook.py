"""nbgrader's gradebook: one auto score per criterion cell, written through nbgrader's own API.

The assignment's cells are recorded as `nbgrader generate_assignment` records them; new students
and submissions are added in one transaction; only auto scores change, so a grader's manual
scores and comments are kept.
"""

from __future__ import annotations

import functools

import warnings
from contextlib import contextmanager
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

    If every cell is already there (cells_recorded; e.g. after `nbgrader generate_assignment`),
    nothing changes. Otherwise the source notebook goes through ClearSolutions, ComputeChecksums
    and nbgrader's own SaveCells, as generate_assignment does. Returns the notebook's name.
    """
    import nbformat
    from nbgrader.preprocessors import ClearSolutions, ComputeChecksums, SaveCells

    source, assignment = course.source_notebook, course.assignment
    nb = nbformat.read(str(source), as_version=4)
    name = source.stem
    if cells_recorded(gb, course, name):
        return name
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


def cells_recorded(gb, course: "Course", name: str) -> bool:
    """Whether the gradebook holds every cell SaveCells records, with the criteria's points.
    SaveCells commits step by step and replaces a notebook without submissions: while another
    program records them, rows written would miss cells."""
    from nbgrader.api import MissingEntry

    source = course.source_notebook
    expected = _recorded_cell_names(str(source), source.stat().st_mtime_ns)
    try:
        notebook = gb.find_notebook(name, course.assignment)
    except MissingEntry:
        return False
    points = {c.name: c.max_score for c in notebook.grade_cells}
    return ({c.name for c in notebook.source_cells} >= expected
            and all(points.get(c) == pts for c, pts in course.criteria.items()))


@functools.lru_cache(maxsize=8)
def _recorded_cell_names(path: str, _mtime_ns: int) -> frozenset:
    """grade_ids of the cells SaveCells records as source cells, read once per file version."""
    import nbformat
    from nbgrader import utils

    nb = nbformat.read(path, as_version=4)
    return frozenset(cell.metadata.nbgrader.grade_id for cell in nb.cells
                     if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)
                     or utils.is_task(cell))


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
    writer = GradebookWriter(course, db_url)
    writer.open()
    try:
        writer.write(results, timestamps)
    finally:
        writer.close()
    return writer.written


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        # nbgrader's models trip SQLAlchemy 2's autoflush warnings ("not in session"); the rows
        # are fine
        warnings.filterwarnings("ignore", message=".*not in session.*")
        yield


class GradebookWriter:
    """write_gradebook in steps, for a batch that records rows while it grades: open() (the
    database, the assignment's cells), write(results) as often as needed, close(). Failed rows
    collect in `written.failed`; GradebookError if the database cannot be used at all."""

    def __init__(self, course: "Course", db_url: str | None = None):
        self.course = course
        self.db_url = db_url or default_db_url(course)
        self.written = Written(self.db_url)
        self.gb = None
        self.nb_name = None

    def open(self) -> None:
        from nbgrader.api import Gradebook

        course_id = self.course.nbgrader_config().CourseDirectory.get("course_id") or "default_course"
        with alembic_on_path(), _quiet():
            self.gb = gb = _open(Gradebook, self.db_url, course_id)
            try:
                _wait_for_other_writers(gb)
                self.nb_name = _retrying(gb, lambda: ensure_assignment(gb, self.course, self.db_url))
            except _DatabaseBusy as exc:
                self.close()
                raise GradebookError(f"{self.db_url}: {exc}") from exc
            except BaseException:
                self.close()
                raise

    def write(self, results: list[dict], timestamps: dict[str, str] | None = None) -> None:
        gb, course, nb_name = self.gb, self.course, self.nb_name
        stamps = {r["student"]: (timestamps or {}).get(r["student"]) for r in results}
        with _quiet():
            try:
                for start in range(0, len(results), CHUNK):
                    chunk = results[start:start + CHUNK]
                    try:
                        self._wait_for_cells()
                        _retrying(gb, lambda: _write_rows(gb, course, nb_name, chunk, stamps))
                    except Exception:  # noqa: BLE001 - find the student(s) it was, write the others
                        self._wait_for_cells()
                        for r in chunk:
                            try:
                                _retrying(gb, lambda: _write_rows(gb, course, nb_name, [r], stamps))
                            except Exception as exc:  # noqa: BLE001
                                self.written.failed[r["student"]] = reason(exc)
            except _DatabaseBusy as exc:
                raise GradebookError(f"{self.db_url}: {exc}") from exc

    def _wait_for_cells(self) -> None:
        """While another program records the assignment's cells (cells_recorded), wait for it,
        up to CELLS_WAIT seconds, outside any transaction; then record them again ourselves (it
        may have stopped half-way)."""
        import time

        deadline = time.monotonic() + CELLS_WAIT
        while True:
            done = cells_recorded(self.gb, self.course, self.nb_name)
            self.gb.db.rollback()              # end the read: the other program needs the lock
            if done:
                return
            if time.monotonic() > deadline:
                self.nb_name = _retrying(self.gb, lambda: ensure_assignment(self.gb, self.course,
                                                                            self.db_url))
                return
            time.sleep(0.1)

    def close(self) -> None:
        if self.gb is not None:
            self.gb.close()
            self.gb = None


CHUNK = 250                 # students per transaction: the database is locked for ~0.5 s at most
BUSY_TIMEOUT_MS = 30_000    # how long a write waits for another writer's transaction
RETRIES = 5
CELLS_WAIT = 30.0           # seconds to wait for another program recording the assignment's cells


class _DatabaseBusy(Exception):
    pass


def reason(exc: BaseException) -> str:
    """One line for a database error: the driver's own message, without SQLAlchemy's SQL echo
    and documentation link."""
    inner = getattr(exc, "orig", None) or exc
    text = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


_HEADS: list[str] = []


def alembic_head() -> str:
    """What nbgrader's get_alembic_version returns (the first line of `alembic heads` on its own
    migration scripts), read in this process: the `alembic` command it runs to create a gradebook
    is a whole Python start, seconds of a batch's reports. Computed once per process."""
    if not _HEADS:
        from alembic.config import Config
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import _temp_alembic_ini

        with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
            heads = ScriptDirectory.from_config(Config(ini)).get_heads()
        if len(heads) != 1:         # several heads: `alembic heads` decides which is printed first
            raise RuntimeError(f"nbgrader's migrations have {len(heads)} heads")
        _HEADS.append(heads[0])
    return _HEADS[0]


@contextmanager
def _alembic_in_process():
    """While nbgrader creates a gradebook, its get_alembic_version reads the head in this process
    (alembic_head); if that fails for any reason, nbgrader's own (the `alembic` command) runs."""
    import nbgrader.api

    original = nbgrader.api.get_alembic_version

    def get_alembic_version() -> str:
        try:
            return alembic_head()
        except Exception:  # noqa: BLE001 - nbgrader's own way still works
            return original()

    nbgrader.api.get_alembic_version = get_alembic_version
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original


_RACED = ("already exists", "locked", "UNIQUE constraint failed")   # another creator's traces


def _open(gradebook_class, db_url: str, course_id: str):
    """nbgrader's Gradebook; a second program creating the same database at the same moment (a
    table, the lock, or the course's row it just added) is waited out and the open tried again."""
    import time

    for attempt in range(RETRIES):
        try:
            with _alembic_in_process():
                return gradebook_class(db_url, course_id=course_id)
        except Exception as exc:  # noqa: BLE001 - any driver or migration error: say which database
            if attempt == RETRIES - 1 or not any(w in str(exc) for w in _RACED):
                raise GradebookError(f"{db_url}: cannot open the gradebook ({reason(exc)})") from exc
            time.sleep(0.2 * 2 ** attempt)


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

    from nbgrader.api import InvalidEntry, MissingEntry
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(RETRIES):
        try:
            value = write()
            gb.db.commit()
            return value
        # Two runs recording the assignment's cells at once (nbgrader's SaveCells commits step by
        # step, and replaces a notebook whose cells differ): nbgrader's InvalidEntry wraps the
        # IntegrityError of a row the other has just added; MissingEntry, a notebook the other
        # has just replaced. The next attempt finds the cells recorded.
        except (IntegrityError, OperationalError, InvalidEntry, MissingEntry) as exc:
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
    from nbgrader.api import Assignment, MissingEntry, SubmittedAssignment
    from nbgrader.utils import parse_utc

    if not cells_recorded(gb, course, nb_name):      # in this transaction: nobody changes them now
        raise MissingEntry("another program is recording the assignment's cells")

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
    _late_penalties(gb, course, nb_name, students)


def _late_penalties(gb, course: "Course", nb_name: str, students: list[str]) -> None:
    """Each submitted notebook's late penalty as nbgrader's AssignLatePenalties sets it (reset;
    the course's LateSubmissionPlugin after the due date, kept within [0, score]): totals agree
    whichever graded. Nothing to do while the assignment has no due date."""
    from nbgrader.api import Assignment, Notebook, SubmittedAssignment, SubmittedNotebook
    from nbgrader.preprocessors import AssignLatePenalties

    if gb.find_assignment(course.assignment).duedate is None:
        return
    gb.db.flush()                           # the scores and timestamps just set
    step = AssignLatePenalties(config=course.nbgrader_config())
    step.init_plugin()
    notebooks = (gb.db.query(SubmittedNotebook).join(SubmittedAssignment).join(Assignment)
                 .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                 .filter(Assignment.name == course.assignment, Notebook.name == nb_name,
                         SubmittedAssignment.student_id.in_(students))
                 .populate_existing())
    for notebook in notebooks:
        submission = gb.db.query(SubmittedAssignment).filter_by(id=notebook.assignment_id) \
            .populate_existing().one()
        notebook.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = step.plugin_inst.late_submission_penalty(
                submission.student_id, notebook.score, submission.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = max(0.0, min(float(penalty), notebook.score))


def add_submissions(gb, assignment: str, students: list[str], stamps: dict[str, str | None]) -> None:
    """nbgrader's Gradebook.add_student (for those it lacks) and add_submission for each of
    `students`, in one transaction.

    Those methods commit once per call, and a commit expires every loaded object, which made a
    class's first grading slow; building the same rows as ORM objects was still slow
    (docs/performance.md). The rows are inserted here with one executemany per table, with exactly the columns and
    defaults add_submission gives them (nbgrader 0.9; tests/reports/test_reports.py compares
    the two).
    """
    from nbgrader.api import (Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook,
                              new_uuid)
    from nbgrader.utils import parse_utc
    from sqlalchemy import insert

    if not students:
        return
    target = gb.find_assignment(assignment)
    known = {s.id for s in gb.db.query(Student).filter(Student.id.in_(students))}
    notebooks = [(nb.id, [c.id for c in nb.grade_cells], [c.id for c in nb.solution_cells],
                  [c.id for c in nb.task_cells]) for nb in target.notebooks]
    rows: dict = {Student: [], SubmittedAssignment: [], SubmittedNotebook: [], Grade: [], Comment: []}
    for student_id in students:
        if student_id not in known:
            known.add(student_id)
            rows[Student].append({"id": student_id})
        submission = new_uuid()
        rows[SubmittedAssignment].append({
            "id": submission, "assignment_id": target.id, "student_id": student_id,
            "timestamp": parse_utc(stamps[student_id]) if stamps.get(student_id) else None})
        for notebook_id, grade_cells, solution_cells, task_cells in notebooks:
            nb = new_uuid()
            rows[SubmittedNotebook].append({"id": nb, "assignment_id": submission,
                                            "notebook_id": notebook_id, "flagged": False})
            for cell in grade_cells:
                rows[Grade].append(_grade_row(nb, cell))
            for cell in solution_cells:
                rows[Comment].append({"id": new_uuid(), "notebook_id": nb, "cell_id": cell})
            for cell in task_cells:
                rows[Comment].append({"id": new_uuid(), "notebook_id": nb, "cell_id": cell})
                rows[Grade].append(_grade_row(nb, cell))
    gb.db.flush()             # anything pending in the session goes first, as it would have
    for model, values in rows.items():       # parents before children (foreign keys)
        if values:
            gb.db.execute(insert(model.__table__), values)


def _grade_row(notebook_id: str, cell_id: str) -> dict:
    from nbgrader.api import new_uuid

    return {"id": new_uuid(), "notebook_id": notebook_id, "cell_id": cell_id,
            "needs_manual_grade": True}


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


