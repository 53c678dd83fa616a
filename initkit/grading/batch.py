"""Grade every submission of an assignment in parallel, resumably, deterministically.

The steps, in order (see `grade_batch`):
  1. discover  `<submissions>/<student>/<assignment>/*.ipynb` -> one Job per student
               (discover.py)
  2. reuse     cached results whose key (submission bytes + autograder fingerprint) still
               matches, unless `force` (cache.py)
  3. grade     the rest in the worker pool (pool.py); every result is cached the moment it
               arrives, so a Ctrl-C or a kill keeps everything finished so far

Reports are the next stage (initkit.reports, called by initkit.api). Results are sorted by
student, so the output never depends on the worker count or the order in which workers finish.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Any, Callable

from ..files import sync_folder
from .cache import ResultCache, cache_key, fingerprint
from .cpus import default_workers
from .discover import Job, discover
from .grade import check_grading_setup
from .pool import run_pool, sandbox_host
from .result import Result, error_result, timed_out

if TYPE_CHECKING:
    from ..course import Course

logger = logging.getLogger(__name__)


def default_grade(hand_in, course, *, host=None, limits=None) -> Result:
    """The real autograder (imported lazily: it pulls in numpy and the sandbox)."""
    from .grade import grade_hand_in

    return grade_hand_in(hand_in, course, host=host, limits=limits)


@dataclass
class BatchSummary:
    """What grading produced, and only that: the results (sorted by student; a regrade's: its
    students'), the counts, and where they came from. The reports read it, never change it."""

    course: "Course"
    results: list[dict]
    out_dir: Path                  # where cache/ is
    graded_now: int = 0
    reused: int = 0
    workers: int = 0
    grading_seconds: float = 0.0   # wall seconds of grade_batch
    timestamps: dict[str, str] = field(default_factory=dict)   # student -> timestamp.txt's time
    submissions: Path | None = None                            # the folder graded

    @property
    def assignment(self) -> str:
        return self.course.assignment

    @property
    def graded(self) -> list[dict]:
        return [r for r in self.results if r["status"] == "graded"]

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.results if r["status"] == "error"]

    @property
    def timeouts(self) -> list[dict]:
        return [r for r in self.results if timed_out(r)]

    @property
    def mean_score(self) -> float | None:
        scores = [r["score"] for r in self.graded]
        return mean(scores) if scores else None

    @property
    def median_score(self) -> float | None:
        scores = [r["score"] for r in self.graded]
        return median(scores) if scores else None

    def most_failed(self, n: int = 5) -> list[tuple[str, int]]:
        """Criteria on which the most graded submissions lost points, most first (ties: the
        course's order)."""
        order = list(self.course.criteria)
        counts = {name: 0 for name in order}
        for r in self.graded:
            for name, c in r["criteria"].items():
                if name in counts and c["score"] < c["max_score"] - 1e-9:
                    counts[name] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0])))
        return [(name, k) for name, k in ranked if k > 0][:n]


# --------------------------------------------------------------------------- the batch

def make_limits(timeout: float | None, isolation: str = "bubblewrap"):
    """sandbox.Limits with every wall-clock limit capped at `timeout` seconds per submission, and
    student code isolated as `isolation` says (sandbox.limits.ISOLATIONS)."""
    from ..sandbox import Limits
    from ..sandbox.limits import ISOLATIONS

    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation {isolation!r}: expected one of {', '.join(ISOLATIONS)}")
    limits = Limits(isolation=isolation)
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        limits.total_timeout = float(timeout)
        limits.cell_timeout = min(limits.cell_timeout, float(timeout))
        limits.call_timeout = min(limits.call_timeout, float(timeout))
    return limits


def uses_course_tests(grade: Callable) -> bool:
    """Whether `grade` grades with the course's hidden tests and reference, as the real grader
    does: then they are loaded once before the workers start (a broken course fails there, not in
    every worker) and by each cluster worker at set-up. A grade function that does not use them
    (a test's fake grader) says so with the attribute `uses_course_tests = False`."""
    return getattr(grade, "uses_course_tests", True)


def grade_batch(course: "Course", out_dir: str | os.PathLike | None = None, *,
                submissions_dir: str | os.PathLike | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False,
                progress: bool | Callable[[int, str], Any] = True,
                grade: Callable = default_grade, limits=None,
                host_factory: Callable | None = sandbox_host,
                watchdog: float | None = None, students: set[str] | None = None,
                scheduler=None, on_filed: Callable[[dict, str | None], None] | None = None,
                isolation: str = "bubblewrap") -> BatchSummary:
    """Grade every submission of the course's assignment; returns the summary (no reports).
    Logs (logging, INFO) how many submissions there are, cached and to grade.

    out_dir          where cache/ goes (default: the course's default_output)
    submissions_dir  a plain folder of `<student>/<assignment>/*.ipynb` (default: the course's
                     submitted/)
    workers          worker processes (default: all cores)
    timeout          wall seconds allowed per submission (caps the sandbox's wall-clock limits)
    isolation        "bubblewrap" (default: refuses where it cannot start), "none" or "auto"
                     (sandbox.limits.Limits); ignored when `limits` is given
    force            regrade everything, ignoring cached results
    progress         the progress of the submissions graded now: True, initkit.progress's bar (or
                     log lines) on stderr; False, none; or a function (total, description) -> an
                     object with tqdm's update(n) and close()
    grade            the grading function, grade(hand_in, course, *, host, limits) (tests inject
                     a fake one; see uses_course_tests)
    host_factory     makes each worker's long-lived host from the limits (None: no host)
    watchdog         wall seconds after which a worker still grading one submission is killed
                     (default 1.5 x the limits' total_timeout + 30 s: a last resort)
    students         grade only these (always afresh); the summary holds only their results, and
                     every other student's cached result is kept
    scheduler        a dask.distributed scheduler address (or Client): grade on that cluster
                     instead of local worker processes (cluster.py); `workers` is then ignored
    on_filed         called with each result graded now, as the summary will hold it, and the
                     submission's timestamp, as soon as it is filed (reports written meanwhile)
    """
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else course.default_output
    root = Path(submissions_dir) if submissions_dir is not None else course.submitted
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if limits is None:
        limits = make_limits(timeout, isolation)
    cache = ResultCache(out)
    plan = _discover_and_reuse(course, root, cache, fingerprint(course, limits, grade),
                               students=students, force=force)
    if plan.todo and uses_course_tests(grade):
        # Collected once here (before the progress bar: collection swaps sys.stderr for a moment),
        # inherited by the forked workers; a broken course fails here, before any worker starts.
        check_grading_setup(course)
    n_workers = min(workers or default_workers(), max(1, len(plan.todo)))
    logger.info("%d submissions of %s in %s: %d unchanged (cached), %d to grade with %s",
                len(plan.results) + len(plan.todo), course.assignment, root, plan.reused,
                len(plan.todo), f"{n_workers} worker(s)" if scheduler is None
                else f"the Dask cluster at {scheduler}")
    if plan.todo:
        n_workers = _grade(plan, course, cache, grade=grade, limits=limits,
                           host_factory=host_factory, scheduler=scheduler, workers=n_workers,
                           watchdog=watchdog if watchdog is not None
                           else 1.5 * limits.total_timeout + 30.0,
                           bar=_progress_bar(progress, len(plan.todo)), on_filed=on_filed)
    if students is None:
        # Only a run that saw every submission knows which results are superseded: a regrade of
        # some students (`keys` holds only theirs) leaves everyone else's cached result alone,
        # and the next full run drops the regraded students' old ones.
        cache.prune(set(plan.keys.values()))
    if plan.todo:
        sync_folder(cache.folder)      # the results were written without an fsync each
    return BatchSummary(course=course, results=[plan.results[s] for s in sorted(plan.results)],
                        out_dir=out, graded_now=len(plan.todo), reused=plan.reused,
                        workers=n_workers, timestamps=plan.timestamps, submissions=root,
                        grading_seconds=time.perf_counter() - started)


@dataclass
class _Plan:
    """What steps 1 and 2 (discover, reuse) leave for step 3 (grade)."""

    results: dict[str, dict] = field(default_factory=dict)  # student -> error row or cached result
    todo: list[Job] = field(default_factory=list)           # to grade, without their bytes
    keys: dict[str, str] = field(default_factory=dict)      # student -> cache key
    timestamps: dict[str, str] = field(default_factory=dict)
    reused: int = 0


def _discover_and_reuse(course: "Course", root: Path, cache: ResultCache, autograder: str, *,
                        students: set[str] | None, force: bool) -> _Plan:
    """Steps 1 and 2: each student's Job; a discovery error is that student's error row, a cached
    result whose key still matches is reused (unless `force`, or a regrade of `students`)."""
    plan = _Plan()
    found: set[str] = set()
    for job in discover(root, course.assignment, course.notebook):
        if students is not None and job.student not in students:
            continue
        found.add(job.student)
        if job.error is not None:
            plan.results[job.student] = error_result(job.student, job.notebook, course.criteria,
                                                     job.error)
            continue
        if job.timestamp:
            plan.timestamps[job.student] = job.timestamp
        # The notes a result carries (which file was graded and why, a collect remark) are in
        # the key: a stray copy added beside an unchanged notebook changes its note.
        plan.keys[job.student] = key = cache_key(
            job.student, job.notebook, job.hand_in.digest, autograder,
            "\n".join(filter(None, [job.hand_in.note, job.hand_in.remark])))
        cached = None if force or students is not None else cache.load(key)
        if cached is not None:
            plan.results[job.student] = cached
            plan.reused += 1
        else:
            plan.todo.append(job.without_data())   # only jobs in flight keep their bytes
    missing = sorted(set(students or ()) - found)
    if missing:
        from ..course import CourseError

        raise CourseError(f"{root}: no submission of {course.assignment} for "
                          f"{', '.join(missing)} (no folder <student>/{course.assignment}/)")
    return plan


def _progress_bar(progress: bool | Callable[[int, str], Any], total: int):
    """The progress bar for `total` submissions, as grade_batch's `progress` says (None: none)."""
    if not progress or not total:
        return None
    if progress is True:
        from ..progress import progress as make
    else:
        make = progress
    return make(total, "grading")


def _grade(plan: _Plan, course: "Course", cache: ResultCache, *, grade: Callable, limits,
           host_factory: Callable | None, scheduler, workers: int, watchdog: float, bar,
           on_filed: Callable[[dict, str | None], None] | None) -> int:
    """Step 3: grade plan.todo in the local pool or on the cluster; each result is cached and put
    into plan.results the moment it arrives. Returns the number of workers that graded."""

    def on_result(job: Job, result: dict) -> None:
        result = {**result, "student": job.student}  # the folder name is the student id
        plan.results[job.student] = filed = cache.store(plan.keys[job.student], result)
        if on_filed is not None:
            on_filed(filed, plan.timestamps.get(job.student))
        if bar is not None:
            bar.update(1)

    try:
        if scheduler is None:
            run_pool(plan.todo, workers=workers, grade=grade, course=course, limits=limits,
                     host_factory=host_factory, watchdog=watchdog, on_result=on_result)
            return workers
        from .cluster import run_cluster

        return run_cluster(plan.todo, scheduler=scheduler, grade=grade, course=course,
                           limits=limits, host_factory=host_factory, watchdog=watchdog,
                           on_result=on_result, collect=uses_course_tests(grade))
    finally:
        if bar is not None:
            bar.close()
