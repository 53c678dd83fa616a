"""Every report of a batch, from the one result shape: grades.csv, grades.json, the feedback pages
and nbgrader's gradebook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..files import atomic_write
from .feedback import feedback_html, feedback_path
from .tables import grades_csv, grades_json

if TYPE_CHECKING:
    from ..grading.batch import BatchSummary


def write_reports(summary: "BatchSummary", *, gradebook: str | bool | None = None) -> dict[str, str]:
    """Write every report of a batch into its out_dir; returns what went where.

    gradebook  None: the course's gradebook (its nbgrader config's db_url, else gradebook.db);
               a URL: that database; False: none
    """
    from ..submission import SubmissionError, student_code

    course, out, results = summary.course, summary.out_dir, summary.results
    files = {}
    atomic_write(out / "grades.csv", grades_csv(results, course.criteria))
    files["grades.csv"] = str(out / "grades.csv")
    atomic_write(out / "grades.json", grades_json(results, course.assignment, course.max_score))
    files["grades.json"] = str(out / "grades.json")
    for r in results:
        path = summary.notebooks.get(r["student"])
        try:
            cells = student_code(path) if path is not None else []
        except SubmissionError:
            cells = []          # the result's error already says why
        atomic_write(feedback_path(out, r, course.assignment),
                     feedback_html(r, cells, course))
    files["feedback"] = str(out / "feedback")
    if gradebook is not False:
        from .gradebook import write_gradebook

        files["gradebook"] = write_gradebook(results, course,
                                             db_url=gradebook if isinstance(gradebook, str) else None,
                                             timestamps=summary.timestamps)
    return files
