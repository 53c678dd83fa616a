"""Reports written student by student as results come in: each student's feedback page,
autograded notebook and gradebook row, then the class-wide files (grades.csv, grades.json,
report.html) at `finish`.

    reports = StreamingReports(course, out_dir, submissions=root, gradebook=..., autograded=...)
    ... for each result the batch files:  reports.add(result, timestamp)
    summary.files = reports.finish(summary)

`finish` writes whatever `add` did not get (cached results, a regrade's merged rows, a result
that changed since it was added), so its output is the same as writing every report after
grading (writer.write_reports, which is `finish` without any `add`). Each student's outputs are
the same bytes either way; only the order in which students are written differs.

`add` writes at once, in the calling process: background.BackgroundReports runs one of these in a
process of its own, so the reports are written while the workers grade.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_write, sync_folder
from ..grading.result import as_error
from .feedback import feedback_html, feedback_path
from .tables import grades_csv, grades_json, read_grades_json

if TYPE_CHECKING:
    from ..course import Course
    from ..grading.batch import BatchSummary

GRADEBOOK_ROWS = 250        # rows written to the gradebook at once while grading goes on


class StreamingReports:
    """Every report of a batch; per-student ones while grading goes on (see the module's doc).

    course       the course graded
    out_dir      where grades.csv, grades.json, feedback/ and report.html go
    submissions  the folder graded (the autograded notebooks are built from the files there)
    gradebook    None: the course's gradebook; a URL: that database; False: none
    autograded   where nbgrader's autograded/ notebooks go (None: not written)
    """

    def __init__(self, course: "Course", out_dir, *, submissions=None,
                 gradebook: str | bool | None = None, autograded: Path | None = None):
        self.course, self.out = course, Path(out_dir)
        self.submissions = submissions
        self.gradebook, self.autograded = gradebook, autograded
        self._written: dict[str, dict] = {}      # student -> the result their files show
        self._failed: dict[str, str] = {}        # student -> why a per-student output failed
        self._rows: list[tuple[dict, str | None]] = []      # for the gradebook, not written yet
        self._timestamps: dict[str, str] = {}
        self._ag = self._gb = None
        self._ag_problem: str | None = None      # why there are no autograded notebooks
        self._gb_error: Exception | None = None  # the gradebook cannot be used at all
        self._gb_crash: Exception | None = None  # an unexpected error setting it up: raised by finish
        self._db_url: str | None = None
        self._opened = False

    # -- while grading --
    def add(self, result: dict, timestamp: str | None = None) -> None:
        """One student's result, as filed (the dict the summary will hold): their files now,
        their gradebook row with the next GRADEBOOK_ROWS."""
        self.open()
        self._student(result, timestamp)
        if len(self._rows) >= GRADEBOOK_ROWS:
            self._flush_rows()

    # -- the steps --
    def open(self) -> None:
        """The release for the autograded notebooks, the gradebook (created if new, with the
        assignment's cells). Once; `add` and `finish` call it."""
        if self._opened:
            return
        self._opened = True
        if self._ag is None and self.autograded is not None and self._ag_problem is None:
            from .autograded import AutogradedWriter

            try:
                self._ag = AutogradedWriter(self.course, self.autograded, self.submissions,
                                            self._timestamps)
            except FileNotFoundError as exc:   # a course without a release: nothing to build on
                self._ag_problem = f"not written: {exc}"
        if self._gb is None and self.gradebook is not False and self._gb_error is None:
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

    def _student(self, result: dict, timestamp: str | None) -> None:
        student = result["student"]
        if timestamp:
            self._timestamps[student] = timestamp
        else:
            self._timestamps.pop(student, None)
        self._failed.pop(student, None)
        problem = self._feedback(result)
        if problem:
            self._failed[student] = f"could not write the feedback page: {problem}"
        if self._ag is not None:
            problem = self._ag.write(result, timestamp or None)
            if problem:
                self._failed.setdefault(student, f"could not write the autograded notebook: {problem}")
        self._written[student] = result
        if self._gb is not None:
            self._rows.append((result, timestamp))

    def _feedback(self, result: dict) -> str | None:
        """Write one student's page; the problem as text if it failed."""
        try:
            atomic_write(feedback_path(self.out, result, self.course.assignment),
                         feedback_html(result, [tuple(c) for c in result.get("student_code") or []],
                                       self.course), durable=False)   # synced in finish()
        except Exception as exc:  # noqa: BLE001 - one student's page never stops the others
            return f"{type(exc).__name__}: {exc}"
        return None

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
        for student, problem in self._gb.written.failed.items():
            self._failed.setdefault(student, f"could not record the grade in the gradebook: {problem}")
        self._gb.written.failed.clear()

    # -- after grading --
    def finish(self, summary: "BatchSummary") -> dict[str, str]:
        """Wait for the per-student outputs, write those `add` did not get, then the class-wide
        files; returns what went where (as writer.write_reports). Rows of students whose outputs
        failed become error rows in `summary.results`. Raises GradebookError (after writing
        everything else) if the gradebook could not be used."""
        course, out = self.course, self.out
        try:
            self.open()
            stamps = summary.timestamps
            for r in _own(summary):
                if self._written.get(r["student"]) != r or \
                        self._timestamps.get(r["student"]) != stamps.get(r["student"]):
                    self._student(r, stamps.get(r["student"]))
            self._flush_rows()
        finally:
            self.close()
        if self._gb_crash is not None:
            raise self._gb_crash
        files: dict[str, str] = {"feedback": str(out / "feedback")}
        if self.autograded is not None:
            files["autograded"] = self._ag_problem or str(self.autograded)
        if self._db_url is not None and self._gb_error is None:
            files["gradebook"] = self._db_url
        failed = {s: why for s, why in self._failed.items() if s in self._written}
        if failed:
            summary.results = [as_error(r, course.criteria, failed[r["student"]])
                               if r["student"] in failed else r for r in summary.results]
            for r in summary.results:
                if r["student"] in failed:
                    self._feedback(r)     # the page says why; best effort
        atomic_write(out / "grades.csv", grades_csv(summary.results, course.criteria))
        files["grades.csv"] = str(out / "grades.csv")
        previous = read_grades_json(out / "grades.json")     # before it is overwritten
        atomic_write(out / "grades.json", grades_json(summary.results, course.assignment,
                                                      course.max_score))
        files["grades.json"] = str(out / "grades.json")
        from .instructor import write_instructor_report

        files["report"] = str(write_instructor_report(summary, previous))
        for folder in {out, self.autograded} - {None}:
            sync_folder(folder)          # the per-student files were written without an fsync each
        if self._gb_error is not None:
            from .gradebook import GradebookError

            raise GradebookError(f"{self._gb_error} (grades.csv, grades.json and the feedback "
                                 f"pages in {out} are written)") from self._gb_error
        return files

    def close(self) -> None:
        """Close the gradebook; finish() does this itself."""
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


def _own(summary: "BatchSummary") -> list[dict]:
    """The rows whose per-student outputs this run writes: all, or the regraded students'."""
    if summary.only is None:
        return summary.results
    return [r for r in summary.results if r["student"] in summary.only]
