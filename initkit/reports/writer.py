"""Every report of a batch, from the one result shape: the feedback pages, nbgrader's gradebook,
grades.csv and grades.json.

Each stage fails per student: an exception while writing one student's feedback page or gradebook
row turns that student's row into an error row with the reason, and every other student still
gets all of their outputs. The tables are written last, so they show those errors too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..files import atomic_write
from ..grading.result import as_error
from .feedback import feedback_html, feedback_path
from .tables import grades_csv, grades_json, read_grades_json

if TYPE_CHECKING:
    from ..grading.batch import BatchSummary


def write_reports(summary: "BatchSummary", *, gradebook: str | bool | None = None,
                  autograded: Path | None = None) -> dict[str, str]:
    """Write every report of a batch into its out_dir; returns what went where. Rows of students
    whose reports failed become error rows in `summary.results`.

    gradebook   None: the course's gradebook (its nbgrader config's db_url, else gradebook.db);
                a URL: that database; False: none
    autograded  where nbgrader's autograded/ notebooks go (None: not written)
    """
    course, out = summary.course, summary.out_dir
    files: dict[str, str] = {}
    failed: dict[str, str] = {}
    for r in _own(summary):
        problem = _write_feedback(summary, r)
        if problem:
            failed[r["student"]] = f"could not write the feedback page: {problem}"
    files["feedback"] = str(out / "feedback")
    if autograded is not None:
        from .autograded import write_autograded

        try:
            for student, problem in write_autograded(summary, autograded, _own(summary)).items():
                failed.setdefault(student, f"could not write the autograded notebook: {problem}")
            files["autograded"] = str(autograded)
        except FileNotFoundError as exc:      # a course without a release: nothing to build on
            files["autograded"] = f"not written: {exc}"
    unwritable = None
    if gradebook is not False:
        from .gradebook import GradebookError, write_gradebook

        try:
            written = write_gradebook(_own(summary), course,
                                      db_url=gradebook if isinstance(gradebook, str) else None,
                                      timestamps=summary.timestamps)
        except GradebookError as exc:      # the database itself: everything else is still written
            unwritable = exc
        else:
            files["gradebook"] = written.db_url
            for student, problem in written.failed.items():
                failed.setdefault(student, f"could not record the grade in the gradebook: {problem}")
    if failed:
        summary.results = [as_error(r, course.criteria, failed[r["student"]])
                           if r["student"] in failed else r for r in summary.results]
        for r in summary.results:
            if r["student"] in failed:
                _write_feedback(summary, r)     # the page says why; best effort
    atomic_write(out / "grades.csv", grades_csv(summary.results, course.criteria))
    files["grades.csv"] = str(out / "grades.csv")
    previous = read_grades_json(out / "grades.json")     # before it is overwritten
    atomic_write(out / "grades.json", grades_json(summary.results, course.assignment, course.max_score))
    files["grades.json"] = str(out / "grades.json")
    from .instructor import write_instructor_report

    files["report"] = str(write_instructor_report(summary, previous))
    if unwritable is not None:
        raise GradebookError(f"{unwritable} (grades.csv, grades.json and the feedback pages in "
                             f"{out} are written)") from unwritable
    return files


def _own(summary: "BatchSummary") -> list[dict]:
    """The rows whose per-student outputs this run writes: all, or the regraded students'."""
    if summary.only is None:
        return summary.results
    return [r for r in summary.results if r["student"] in summary.only]


def _write_feedback(summary: "BatchSummary", result: dict) -> str | None:
    """Write one student's page; the problem as text if it failed."""
    try:
        atomic_write(feedback_path(summary.out_dir, result, summary.course.assignment),
                     feedback_html(result, [tuple(c) for c in result.get("student_code") or []],
                                   summary.course))
    except Exception as exc:  # noqa: BLE001 - one student's page never stops the others
        return f"{type(exc).__name__}: {exc}"
    return None
