"""Every report of a batch, one student at a time as results arrive: each student's feedback page,
nbgrader autograded notebook and gradebook row at `add`, then the class-wide files (grades.csv,
grades.json, report.html) at `finish`.

    writer = ReportWriter(course, out_dir, submissions=root, gradebook=..., autograded=...)
    for each result, in any order:  writer.add(result, timestamp)   # a student again: replaced
    files, failed = writer.finish()
    writer.close()                                                  # always (finish does it too)

Memory stays flat in the size of the class: a result (the student's code, every test and its
message) is let go once the student's own files are written. What the class-wide files need of
it stays: its grades.csv line, its grades.json line (in a temporary file, put in student order at
`finish`) and its instructor.ClassRow for report.html. Gradebook rows wait in groups of
GRADEBOOK_ROWS.

Each output fails per student: an exception while writing one student's page, notebook or
gradebook row makes their row in the tables an error row with the reason (`failed`, returned as
data; their page says why, best effort), and every other student still gets all their outputs.
The bytes written do not depend on the order of the `add`s.

A regrade of some students (`students`): the tables hold the last run's rows (grades.json) for
everyone else. batch.BatchReports runs a ReportWriter in a process of its own while the workers
grade; this module knows nothing of processes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..files import atomic_write, sync_folder
from ..grading.result import as_error
from .feedback import feedback_html, feedback_path
from .instructor import ClassRow, class_row
from .tables import csv_header, csv_line, grades_json_parts, json_line, read_grades_json

if TYPE_CHECKING:
    from ..course import Course

GRADEBOOK_ROWS = 250        # rows written to the gradebook at once while grading goes on


class _Entry(NamedTuple):
    """What the class-wide files show of one student."""

    csv: str                # their grades.csv line
    at: int                 # where their grades.json line is in the spool
    size: int
    report: ClassRow        # what report.html needs


def shown_row(result: dict, failed: str | None, criteria) -> dict:
    """A result as the tables show it: without the student's code, and an error row if their
    reports failed (`failed`: why). The one rule, for the files and for ReportsOutcome.rows."""
    row = as_error(result, criteria, failed) if failed else result
    return {k: v for k, v in row.items() if k != "student_code"}


class ReportWriter:
    """Every report of a batch (see the module's doc).

    course       the course graded
    out_dir      where grades.csv, grades.json, feedback/ and report.html go
    submissions  the folder graded (the autograded notebooks are built from the files there)
    gradebook    None: the course's gradebook; a URL: that database; False: none
    autograded   where nbgrader's autograded/ notebooks go (None: not written)
    students     a regrade of these students only: the tables keep everyone else's last row
    """

    def __init__(self, course: "Course", out_dir, *, submissions=None,
                 gradebook: str | bool | None = None, autograded: Path | None = None,
                 students=None):
        self.course, self.out = course, Path(out_dir)
        self.submissions = submissions
        self.gradebook, self.autograded = gradebook, autograded
        self.regrade = students is not None
        self._table: dict[str, _Entry] = {}      # student -> what the class-wide files show
        self._spool = None                       # grades.json lines, in the order they came
        self._failed: dict[str, str] = {}        # student -> why one of their outputs failed
        self._rows: list[tuple[dict, str | None]] = []      # for the gradebook, not written yet
        self._ag = self._gb = None
        self._ag_problem: str | None = None      # why there are no autograded notebooks
        self._gb_error: Exception | None = None  # the gradebook cannot be used at all
        self._gb_crash: Exception | None = None  # an unexpected error setting it up: raised by finish
        self._db_url: str | None = None
        self._opened = False

    # -- while grading --
    def add(self, result: dict, timestamp: str | None = None) -> None:
        """One student's result, as filed: their page and notebook now, their gradebook row
        with the next GRADEBOOK_ROWS, their lines of the tables kept for `finish`."""
        self.open()
        student = result["student"]
        self._failed.pop(student, None)
        problem = self._page(result)
        if problem:
            self._failed[student] = f"could not write the feedback page: {problem}"
        if self._ag is not None:
            problem = self._ag.write(result, timestamp or None)
            if problem:
                self._failed.setdefault(student, f"could not write the autograded notebook: {problem}")
        if student in self._failed:
            self._fail(result)
        else:
            self._enter(result)
        if self._gb is not None:
            self._rows.append((result, timestamp))
            if len(self._rows) >= GRADEBOOK_ROWS:
                self._flush_rows()

    def open(self) -> None:
        """The release for the autograded notebooks, the gradebook (created if new, with the
        assignment's cells). Once; `add` and `finish` call it."""
        if self._opened:
            return
        self._opened = True
        if self.autograded is not None:
            from .autograded import AutogradedWriter

            try:
                self._ag = AutogradedWriter(self.course, self.autograded, self.submissions)
            except FileNotFoundError as exc:   # a course without a release: nothing to build on
                self._ag_problem = f"not written: {exc}"
        if self.gradebook is not False:
            from .gradebook import GradebookError, GradebookWriter

            writer = GradebookWriter(self.course, self.gradebook if isinstance(self.gradebook, str)
                                     else None)
            try:
                writer.open()
            except GradebookError as exc:
                self._gb_error = exc
            except Exception as exc:  # noqa: BLE001 - raised by finish, after the other outputs
                self._gb_crash = exc
            else:
                self._gb, self._db_url = writer, writer.db_url

    def _page(self, result: dict) -> str | None:
        """Write one student's page; the problem as text if it failed."""
        try:
            atomic_write(feedback_path(self.out, result, self.course.assignment),
                         feedback_html(result, [tuple(c) for c in result.get("student_code") or []],
                                       self.course), durable=False)   # synced in finish()
        except Exception as exc:  # noqa: BLE001 - one student's page never stops the others
            return f"{type(exc).__name__}: {exc}"
        return None

    def _fail(self, result: dict) -> None:
        """The student's reports failed (self._failed says why): their page says so, best
        effort, and the tables show an error row."""
        error = as_error(result, self.course.criteria, self._failed[result["student"]])
        self._page(error)
        self._enter(error)

    def _enter(self, row: dict) -> None:
        """Keep what the class-wide files show of `row` (a result, or an error row)."""
        self._table[row["student"]] = self._entry(row)

    def _entry(self, row: dict) -> _Entry:
        criteria = self.course.criteria
        shown = shown_row(row, None, criteria)
        if self._spool is None:
            self.out.mkdir(parents=True, exist_ok=True)
            self._spool = tempfile.TemporaryFile(dir=self.out)   # no name: nothing left behind
        line = json_line(shown).encode("utf-8")
        at = self._spool.seek(0, 2)
        self._spool.write(line)
        return _Entry(csv_line(shown, criteria), at, len(line), class_row(shown, criteria))

    def _flush_rows(self) -> None:
        from .gradebook import GradebookError

        rows, self._rows = self._rows, []
        if not rows or self._gb is None:
            return
        try:
            self._gb.write([r for r, _ in rows], {r["student"]: t for r, t in rows if t})
        except GradebookError as exc:         # the database itself: everything else is written
            self._gb_error = exc
            self._gb.close()
            self._gb = None
            return
        latest = {r["student"]: r for r, _ in rows}
        for student, problem in self._gb.written.failed.items():
            if student not in self._failed:
                self._failed[student] = f"could not record the grade in the gradebook: {problem}"
                self._fail(latest[student])
        self._gb.written.failed.clear()

    # -- after grading --
    def finish(self) -> tuple[dict[str, str], dict[str, str]]:
        """The last gradebook rows, then the class-wide files. Returns (what went where, {student:
        why their reports failed}). Raises GradebookError (after writing everything else) if the
        gradebook could not be used."""
        course, out = self.course, self.out
        try:
            self.open()
            self._flush_rows()
        finally:
            self._close_gradebook()
        if self._gb_crash is not None:
            raise self._gb_crash
        files: dict[str, str] = {"feedback": str(out / "feedback")}
        if self.autograded is not None:
            files["autograded"] = self._ag_problem or str(self.autograded)
        if self._db_url is not None and self._gb_error is None:
            files["gradebook"] = self._db_url
        # The last run's rows, before they are overwritten: what report.html compares with, and
        # in a regrade everyone else's row.
        others: dict = {}

        def keep(row: dict) -> dict:
            if self.regrade and row["student"] not in self._table:
                others[row["student"]] = self._entry(row)
            return {k: row.get(k) for k in ("student", "score", "status")}

        previous = read_grades_json(out / "grades.json", keep)
        table = {**others, **self._table}
        order = sorted(table)
        atomic_write(out / "grades.csv", [csv_header(course.criteria)] + [table[s].csv for s in order])
        files["grades.csv"] = str(out / "grades.csv")
        atomic_write(out / "grades.json", grades_json_parts(
            (self._line(table[s]) for s in order), course.assignment, course.max_score))
        files["grades.json"] = str(out / "grades.json")
        from . import instructor      # at call time: a test may stand in for the report

        files["report"] = str(instructor.write_instructor_report(
            course, out, [table[s].report for s in order], previous))
        for folder in {out, self.autograded} - {None}:
            sync_folder(folder)          # the per-student files were written without an fsync each
        self.close()
        if self._gb_error is not None:
            from .gradebook import GradebookError

            raise GradebookError(f"{self._gb_error} (grades.csv, grades.json and the feedback "
                                 f"pages in {out} are written)") from self._gb_error
        return files, dict(self._failed)

    def _line(self, entry: _Entry) -> str:
        self._spool.seek(entry.at)
        return self._spool.read(entry.size).decode("utf-8")

    def close(self) -> None:
        """Close the gradebook and drop the spool; finish() does this itself."""
        self._close_gradebook()
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _close_gradebook(self) -> None:
        if self._gb is not None:
            self._gb.close()
            self._gb = None


def warm_up() -> None:
    """Import what the reports use (nbgrader: seconds; matplotlib: about one), so that a process
    writing them in the background does it while the workers grade, not after."""
    import importlib

    for module in ("nbgrader.api", "nbgrader.preprocessors", "matplotlib.figure",
                   "matplotlib.backends.backend_agg"):
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the report that needs it says what is wrong
            pass
