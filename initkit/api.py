"""initkit's operations as Python functions: what the command line calls, and what a notebook, a
script or a test can call the same way. Each takes an open Course and returns data.

The pipeline, in one direction: submission (read) -> sandbox (run) -> grading (checks, result)
-> reports (tables, feedback, gradebook).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .course import Course
from .reports.autograded import AUTOGRADED
from .grading.batch import BatchSummary, grade_batch, make_limits
from .grading.discover import check_layout

if TYPE_CHECKING:
    from .export.canvas import CanvasExport
    from .gradescope.build import Autograder
    from .grading.result import Result
    from .lms.canvas_zip import CanvasCollect
    from .reports.batch import ReportsOutcome


def _read(part: str, name: str) -> property:
    """A read-only attribute that is `part`'s `name` (GradeRun reads as a summary)."""
    return property(lambda self: getattr(getattr(self, part), name), doc=f"{part}.{name}")


@dataclass(frozen=True)
class GradeRun:
    """What `grade` did: grading's summary (this run's results, as grading produced them), the
    reports' outcome, and the time it all took. Read as a summary, it is the class as the tables
    show it (`table`): everyone's rows in a regrade, an error row for a student whose reports
    failed, so `run.errors` decides the exit status."""

    summary: BatchSummary
    reports: ReportsOutcome
    elapsed: float

    @functools.cached_property
    def table(self) -> BatchSummary:
        """grading's summary with the tables' rows: counts, scores and criteria as they show."""
        return dataclasses.replace(self.summary, results=list(self.reports.rows))

    results = _read("table", "results")
    graded = _read("table", "graded")
    errors = _read("table", "errors")
    timeouts = _read("table", "timeouts")
    mean_score = _read("table", "mean_score")
    median_score = _read("table", "median_score")
    most_failed = _read("table", "most_failed")
    course = _read("summary", "course")
    assignment = _read("summary", "assignment")
    out_dir = _read("summary", "out_dir")
    graded_now = _read("summary", "graded_now")
    reused = _read("summary", "reused")
    workers = _read("summary", "workers")
    grading_seconds = _read("summary", "grading_seconds")
    timestamps = _read("summary", "timestamps")
    submissions = _read("summary", "submissions")
    files = _read("reports", "files")


def grade(course: Course, out_dir: str | os.PathLike | None = None, *,
          gradebook: str | bool | None = None, wait: bool = False,
          autograded: str | os.PathLike | bool | None = None, **options) -> GradeRun:
    """Grade every submission of the course's assignment and write every report.

    out_dir     grades.csv, grades.json, feedback/ and cache/ (default: the course's default_output)
    gradebook   None: the course's gradebook; a URL: that database; False: none
    wait        another run is writing into out_dir: False raises lock.RunLocked, True waits
    autograded  where nbgrader's autograded notebooks go: None: the course's autograded/ when its
                own submitted/ is graded, else `<out_dir>/autograded`; False: none
    options     grading.batch.grade_batch's: submissions_dir, workers, timeout, force, progress,
                students (a regrade of these: the reports keep everyone else's last row), ...

    Grading hands each result to the reports as it is filed (reports.batch.BatchReports, which
    writes them in a process of its own meanwhile); the reports return what they did. Neither
    changes the other's data.
    """
    from .lock import output_lock
    from .reports.batch import BatchReports

    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else course.default_output
    own = options.get("submissions_dir") is None
    submissions = course.submitted if own else Path(options["submissions_dir"])
    if autograded is None:
        autograded = course.root / AUTOGRADED if own else out / AUTOGRADED
    # A submissions folder not in the layout is a CourseError before anything is written.
    check_layout(submissions, course.assignment, course.notebook)
    with output_lock(out, wait=wait):
        # Started before the workers: it writes each student's reports while the others grade.
        reports = BatchReports(course, out, submissions=submissions, gradebook=gradebook,
                               autograded=Path(autograded) if autograded else None,
                               students=options.get("students"))
        try:
            summary = grade_batch(course, out, on_filed=reports.add, **options)
            outcome = reports.finish(summary)
        finally:
            reports.close()
    return GradeRun(summary, outcome, elapsed=time.perf_counter() - started)




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
    with output_lock(out, wait=wait):
        return _feedback_pages(course, out, gradebook)


def _feedback_pages(course: Course, out: Path, gradebook: str | None) -> dict[str, str]:
    """api.feedback's work, with the output folder's lock held."""
    from .course import CourseError
    from .files import atomic_write
    from .grading.cache import ResultCache
    from .reports.feedback import feedback_html, feedback_path
    from .reports.manual import manual_grades

    from .reports.tables import last_rows

    rows = last_rows(out)
    if not rows:
        raise CourseError(f"{out / 'grades.json'}: no results to write feedback from (run initkit grade)")
    full = {}                   # the cached results hold the student's code; grades.json does not
    for cached in ResultCache(out).results():
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
              isolation: str = "bubblewrap") -> Result:
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
                   wait: bool = False) -> CanvasCollect:
    """Canvas's "Download Submissions" zip into the course's `submitted/<Canvas user ID>/
    <assignment>/` (initkit/lms/canvas_zip.py: what goes where, what is refused). The zip is
    checked before anything is written; the writing holds the lock of submitted/ (`wait` as
    `grade`'s). `force`: replace student folders that hold other files for the assignment.
    Returns lms.canvas_zip.CanvasCollect."""
    from .lms.canvas_zip import collect, read_canvas_zip
    from .lock import output_lock

    plan = read_canvas_zip(zip_path, course.submitted, course.assignment)
    with output_lock(course.submitted, wait=wait):
        return collect(plan, force=force)


def demo(course: Course, out_dir: str | os.PathLike | None = None, *,
         workers: int | None = None, timeout: float | None = None, force: bool = False,
         progress: bool = True, wait: bool = False, isolation: str = "auto") -> GradeRun:
    """Grade the example submissions the course ships (`Course.examples`) into `out_dir`, with a
    gradebook of its own there: the course's gradebook.db is never touched. The examples are
    trusted code, so `isolation` is "auto" (bubblewrap where it starts, else none); the other
    options are `grade`'s."""
    from .course import CourseError

    if not course.examples.is_dir():
        raise CourseError(f"{course.examples}: example submissions not found (python "
                          f"examples/{course.assignment}/make_examples.py builds them)")
    # Default: demo-output/<assignment> in the current folder, one per assignment.
    out = Path(out_dir if out_dir is not None else Path("demo-output") / course.assignment).resolve()
    out.mkdir(parents=True, exist_ok=True)
    return grade(course, out, gradebook=f"sqlite:///{out / 'gradebook.db'}", wait=wait,
                 submissions_dir=course.examples, workers=workers, timeout=timeout, force=force,
                 progress=progress, isolation=isolation)


def audit(course: Course, *, json_path: str | os.PathLike | None = None,
          html_path: str | os.PathLike | None = None, min_score: float | None = None,
          out_dir: str | os.PathLike | None = None, workers: int | None = None,
          force: bool = False, progress: bool = True, wait: bool = False) -> tuple[dict, bool]:
    """How strong and how fair the hidden tests are: mutants of the reference and alternative
    correct solutions graded for real (audit/run.py, docs/audit.md). Writes the JSON and HTML
    reports asked for; returns (report, ok), ok False when the mutation score is below
    `min_score` or a correct alternative loses points.

    out_dir  the grading cache (default: the course's default_output, audit/); its lock is held,
             `wait` as `grade`'s
    Needs initkit[audit] (mutmut's operators): a CourseError saying so without it."""
    from importlib.util import find_spec

    from .course import CourseError

    if find_spec("mutmut") is None or find_spec("libcst") is None:
        from .extras import install_command

        raise CourseError("initkit audit needs mutmut (its mutation operators): "
                          + install_command("audit"))
    from .audit.run import audit as run_audit

    return run_audit(course, json_path=json_path, html_path=html_path, min_score=min_score,
                     out_dir=out_dir, workers=workers, force=force, progress=progress, wait=wait)


def export_canvas(course: Course, roster: str | os.PathLike, out: str | os.PathLike, *,
                  match_column: str | None = None, column: str | None = None,
                  gradebook: str | None = None) -> CanvasExport:
    """Write `out`: Canvas's gradebook export `roster` with the assignment's column filled in from
    nbgrader's gradebook (each student's total), for Canvas's Grades > Import (export/canvas.py:
    which column, how students are matched). gradebook: its URL (default: the course's).
    Returns export.canvas.CanvasExport; a RosterError (a CourseError) for a file that cannot be
    used."""
    from .export.canvas import export_canvas as export

    return export(course, roster, out, match_column=match_column, column=column, db_url=gradebook)


def build_gradescope(course: Course, out: str | os.PathLike | None = None, *,
                     visibility: str = "visible", late_policy: str | None = None,
                     timeout: float | None = None, isolation: str = "auto",
                     python: str = "3.11") -> Autograder:
    """Write a Gradescope autograder zip for the course's assignment (gradescope/build.py: the
    options, docs/gradescope.md); returns gradescope.build.Autograder."""
    from .gradescope.build import build_autograder

    return build_autograder(course, out, visibility=visibility, late_policy=late_policy,
                            timeout=timeout, isolation=isolation, python=python)


def check(course: Course, *, steps: tuple[str, ...] | None = None):
    """Is the course's assignment ready to hand out and grade (initkit/check.py)? Returns a
    check.CheckReport: what was checked, and every problem in one line each."""
    from .check import STEPS, check_assignment

    return check_assignment(course, steps=steps or STEPS)
