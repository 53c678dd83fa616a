"""initkit's operations as Python functions: what the command line calls, and what a notebook, a
script or a test can call the same way. Each takes an open Course and returns data.

The pipeline, in one direction: submission (read) -> sandbox (run) -> grading (checks, result)
-> reports (tables, feedback, gradebook).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .course import Course
from .reports.autograded import AUTOGRADED
from .grading.batch import BatchSummary, check_layout, grade_batch, make_limits


def grade(course: Course, out_dir: str | os.PathLike | None = None, *,
          gradebook: str | bool | None = None, wait: bool = False,
          autograded: str | os.PathLike | bool | None = None, **options) -> BatchSummary:
    """Grade every submission of the course's assignment and write every report.

    out_dir     grades.csv, grades.json, feedback/ and cache/ (default `<course>/grading-output`)
    gradebook   None: the course's gradebook; a URL: that database; False: none
    wait        another run is writing into out_dir: False raises lock.RunLocked, True waits
    autograded  where nbgrader's autograded notebooks go: None: the course's autograded/ when its
                own submitted/ is graded, else `<out_dir>/autograded`; False: none
    options     grading.batch.grade_batch's: submissions_dir, workers, timeout, force, progress, ...
    """
    from .lock import output_lock
    from .reports.background import BackgroundReports

    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else course.default_output
    own = options.get("submissions_dir") is None
    if autograded is None:
        autograded = course.root / AUTOGRADED if own else out / AUTOGRADED
    # A submissions folder not in the layout is a CourseError before anything is written.
    check_layout(course.submitted if own else Path(options["submissions_dir"]), course.assignment,
                 course.notebook)
    with output_lock(out, wait=wait, on_wait=lambda text: print(text, file=sys.stderr)):
        previous = _previous_results(out)
        # Forked before the workers: it writes each student's reports while the others grade.
        reports = BackgroundReports(course, out, gradebook=gradebook,
                                    submissions=course.submitted if own else Path(options["submissions_dir"]),
                                    autograded=Path(autograded) if autograded else None)
        try:
            summary = grade_batch(course, out, on_filed=reports.add, **options)
            if options.get("students") is not None:
                _merge_regrade(summary, previous)
            reports_started = time.perf_counter()
            summary.files = reports.finish(summary)
        finally:
            reports.close()
    summary.reports_seconds = time.perf_counter() - reports_started
    summary.elapsed = time.perf_counter() - started
    return summary


def _previous_results(out: Path) -> dict[str, dict]:
    """The last run's rows in `out`, by student ({} if there was none)."""
    from .reports.tables import read_grades_json

    return {r["student"]: r for r in read_grades_json(out / "grades.json") or []}


def _merge_regrade(summary: BatchSummary, previous: dict[str, dict]) -> None:
    """A regrade of some students: the class's rows are the last run's with theirs replaced, and
    the summary says whose score changed and by how much."""
    regraded = {r["student"]: r for r in summary.results}
    summary.only = set(regraded)
    summary.changes = [(s, previous[s]["score"] if s in previous else None, r["score"])
                       for s, r in sorted(regraded.items())
                       if s not in previous or previous[s].get("score") != r["score"]]
    merged = {**previous, **regraded}
    summary.results = [merged[s] for s in sorted(merged)]


def feedback(course: Course, out_dir: str | os.PathLike | None = None, *,
             gradebook: str | None = None, wait: bool = False) -> dict[str, str]:
    """Write every student's feedback page again, now with what was graded by hand in formgrader
    (written answers, comments, late penalty, the total out of the full points), from the last
    run's results in `out_dir` and the gradebook. Returns {student: page path}.

    wait  another run is writing into out_dir: False raises lock.RunLocked, True waits for it and
          then writes from its results (under the lock, a page never shows an older score than
          grades.json)
    """
    from .course import CourseError
    from .lock import output_lock

    out = Path(out_dir) if out_dir is not None else course.default_output
    if not out.is_dir():         # before the lock, which would create it (grades.json: once held)
        raise CourseError(f"{out / 'grades.json'}: no results to write feedback from (run initkit grade)")
    with output_lock(out, wait=wait, on_wait=lambda text: print(text, file=sys.stderr)):
        return _feedback_pages(course, out, gradebook)


def _feedback_pages(course: Course, out: Path, gradebook: str | None) -> dict[str, str]:
    """api.feedback's work, with the output folder's lock held."""
    import json

    from .course import CourseError
    from .files import atomic_write
    from .grading.cache import ResultCache
    from .reports.feedback import feedback_html, feedback_path
    from .reports.manual import manual_grades

    rows = _previous_results(out)
    if not rows:
        raise CourseError(f"{out / 'grades.json'}: no results to write feedback from (run initkit grade)")
    full = {}                   # the cached results hold the student's code; grades.json does not
    for path in sorted(ResultCache(out).folder.glob("*.json")):
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        row = rows.get(cached.get("student"))
        if row is not None and cached.get("digest") == row.get("digest"):
            full[row["student"]] = cached
    by_hand = manual_grades(course, gradebook)
    pages = {}
    for student, row in sorted(rows.items()):
        result = {**row, "student_code": (full.get(student) or {}).get("student_code") or []}
        page = feedback_path(out, result, course.assignment)
        atomic_write(page, feedback_html(result, [tuple(c) for c in result["student_code"]], course,
                                         by_hand.get(student)))
        pages[student] = str(page)
    return pages


def grade_one(course: Course, path: str | os.PathLike, *, timeout: float | None = None,
              isolation: str = "bubblewrap") -> dict:
    """Grade one notebook in a sandbox of its own (isolated as `isolation` says: see
    sandbox.limits.Limits); returns its result."""
    from .grading.batch import check_grading_setup
    from .grading.grade import grade_notebook

    check_grading_setup(course)
    return grade_notebook(Path(path), course, limits=make_limits(timeout, isolation))


def release(course: Course) -> Path:
    """Regenerate the student release with nbgrader; returns the release folder."""
    from .release import generate_release

    return generate_release(course.root, course.assignment)


def collect_canvas(course: Course, zip_path: str | os.PathLike, *, force: bool = False,
                   wait: bool = False):
    """Canvas's "Download Submissions" zip into the course's `submitted/<Canvas user ID>/
    <assignment>/` (initkit/lms/canvas_zip.py: what goes where, what is refused). The zip is
    checked before anything is written; the writing holds the lock of submitted/ (`wait` as
    `grade`'s). `force`: replace student folders that hold other files for the assignment.
    Returns lms.canvas_zip.CanvasCollect."""
    from .lms.canvas_zip import collect, read_canvas_zip
    from .lock import output_lock

    plan = read_canvas_zip(zip_path, course.submitted, course.assignment)
    with output_lock(course.submitted, wait=wait, on_wait=lambda text: print(text, file=sys.stderr)):
        return collect(plan, force=force)


def check(course: Course, *, steps: tuple[str, ...] | None = None):
    """Is the course's assignment ready to hand out and grade (initkit/check.py)? Returns a
    check.CheckReport: what was checked, and every problem in one line each."""
    from .check import STEPS, check_assignment

    return check_assignment(course, steps=steps or STEPS)
