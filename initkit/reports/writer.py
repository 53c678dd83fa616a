"""Every report of a batch, from the one result shape: the feedback pages, nbgrader's autograded
notebooks and gradebook, grades.csv, grades.json and report.html.

Each stage fails per student: an exception while writing one student's feedback page, notebook or
gradebook row turns that student's row into an error row with the reason, and every other student
still gets all of their outputs. The tables are written last, so they show those errors too.

`write_reports` writes them all after grading; streaming.StreamingReports writes the same files,
each student's while the batch is still grading (write_reports is its `finish` alone).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .streaming import StreamingReports

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
    reports = StreamingReports(summary.course, summary.out_dir, submissions=summary.submissions,
                               gradebook=gradebook, autograded=autograded)
    return reports.finish(summary)
