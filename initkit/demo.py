"""`initkit demo`: what it prints besides the summary. The grading is initkit.api.demo.

The examples are made from the release notebook by examples/<assignment>/make_examples.py; the demo writes
its gradebook into the output folder, so it never touches the course's own gradebook.db.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import GradeRun


def feedback_hint(run: "GradeRun") -> str:
    """Where to look: the feedback folder and one page to open first."""
    from .reports.feedback import feedback_path

    lines = [f"Feedback for each student: {run.out_dir / 'feedback'}/<student>/"
             f"{run.assignment}/<notebook>.html"]
    flawed = [r for r in run.results if r["status"] == "graded" and r["score"] < r["max_score"]]
    if flawed:
        lines.append(f"For example, open {feedback_path(run.out_dir, flawed[0], run.assignment)}")
    return "\n".join(lines)
