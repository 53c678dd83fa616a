"""`initkit demo`: grade the example submissions shipped in examples/ into an output folder.

The examples are made from the release notebook by examples/make_examples.py; the demo writes
its gradebook into the output folder, so it never touches the course's own gradebook.db.
"""

from __future__ import annotations

import os
from pathlib import Path

from .api import grade
from .course import Course, CourseError
from .grading.batch import BatchSummary


def examples_dir(course: Course) -> Path:
    """The assignment's example submissions:
    examples/<assignment>/submitted/<student>/<assignment>/*.ipynb (made by
    examples/<assignment>/make_examples.py)."""
    return course.root / "examples" / course.assignment / "submitted"


def run_demo(course: Course, out_dir: str | os.PathLike = "demo-output", *,
             workers: int | None = None, force: bool = False, progress: bool = True,
             **batch_options) -> BatchSummary:
    examples = examples_dir(course)
    if not examples.is_dir():
        raise CourseError(f"{examples}: example submissions not found (python "
                          f"examples/{course.assignment}/make_examples.py builds them)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The course's own examples are trusted: bubblewrap where it starts, else none.
    batch_options.setdefault("isolation", "auto")
    return grade(course, out, workers=workers, force=force, progress=progress,
                 submissions_dir=examples, gradebook=f"sqlite:///{out / 'gradebook.db'}",
                 **batch_options)


def feedback_hint(summary: BatchSummary) -> str:
    """Where to look: the feedback folder and one page to open first."""
    from .reports.feedback import feedback_path

    lines = [f"Feedback for each student: {summary.out_dir / 'feedback'}/<student>/"
             f"{summary.assignment}/<notebook>.html"]
    flawed = [r for r in summary.results if r["status"] == "graded" and r["score"] < r["max_score"]]
    if flawed:
        lines.append(f"For example, open {feedback_path(summary.out_dir, flawed[0], summary.assignment)}")
    return "\n".join(lines)
