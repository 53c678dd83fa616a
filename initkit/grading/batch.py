"""Grade every submission of an assignment in parallel, resumably, deterministically.

The steps, in order (see `grade_batch`):
  1. discover  `<submissions>/<student>/<assignment>/*.ipynb` -> one Job per student
  2. reuse     cached results whose key (submission bytes + autograder fingerprint) still
               matches, unless `force` (cache.py)
  3. grade     the rest in the worker pool (pool.py); every result is cached the moment it
               arrives, so a Ctrl-C or a kill keeps everything finished so far

Reports are the next stage (initkit.reports, called by initkit.api). Results are sorted by
student, so the output never depends on the worker count or the order in which workers finish.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Callable

from .cache import ResultCache, cache_key, fingerprint
from .pool import run_pool, sandbox_host
from .result import error_result, timed_out

if TYPE_CHECKING:
    from ..course import Course


def default_grade(path, course, *, host=None, limits=None, student=None) -> dict:
    """The real autograder (imported lazily: it pulls in numpy and the sandbox)."""
    from .grade import grade_notebook

    return grade_notebook(path, course, host=host, limits=limits, student=student)


@dataclass(frozen=True)
class Job:
    """One student's submission of the assignment, as found on disk."""

    student: str
    notebook: str                  # the notebook's file name (or the assignment's, if none)
    path: Path | None = None       # None when the folder holds no notebook or several
    error: str | None = None       # why it cannot be graded, found before grading
    digest: str | None = None      # sha256 of the file's bytes
    timestamp: str | None = None   # submission time from nbgrader's timestamp.txt, checked


@dataclass
class BatchSummary:
    """What a batch produced: the results (sorted by student) and where the files went."""

    course: "Course"
    results: list[dict]
    out_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    graded_now: int = 0
    reused: int = 0
    workers: int = 0
    elapsed: float = 0.0
    grading_seconds: float = 0.0   # of elapsed: grading in the workers
    reports_seconds: float = 0.0   # of elapsed: CSV, JSON, feedback pages and the gradebook
    notebooks: dict[str, Path | None] = field(default_factory=dict)
    timestamps: dict[str, str] = field(default_factory=dict)   # student -> timestamp.txt's time

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


# --------------------------------------------------------------------------- discovery

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def discover(root: str | os.PathLike, assignment: str) -> list[Job]:
    """One Job per `<root>/<student>/<assignment>/` folder, sorted by student.

    Students without a folder for this assignment did not submit it and get no row. What is wrong
    with one student's folder (no notebook or several, an unreadable file, a bad timestamp.txt, a
    folder name that is not text) is that student's Job error, never the batch's.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {root}")
    jobs = []
    for student_dir in sorted(root.iterdir()):
        folder = student_dir / assignment
        if student_dir.name.startswith(".") or not folder.is_dir():
            continue
        jobs.append(_job(student_dir.name, folder, assignment))
    return jobs


def _job(name: str, folder: Path, assignment: str) -> Job:
    student = printable_id(name)
    if student != name:
        return Job(student, f"{assignment}.ipynb", error=f"{folder.parent.parent / student}: the "
                   "folder name is not valid UTF-8 text; rename the student's folder")
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))
    if not found:
        return Job(student, f"{assignment}.ipynb",
                   error=f"{folder}: no notebook (.ipynb) in the submission folder")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        return Job(student, found[0].name,
                   error=f"{folder}: {len(found)} notebooks ({names}); expected exactly one")
    path = found[0]
    try:
        digest = _sha256_file(path)
    except OSError as exc:
        return Job(student, path.name, path, error=f"{path}: cannot read: {exc.strerror or exc}")
    try:
        stamp = read_timestamp(folder)
    except ValueError as exc:
        return Job(student, path.name, path, error=str(exc))
    return Job(student, path.name, path, digest=digest, timestamp=stamp)


def printable_id(name: str) -> str:
    """A folder name as text: bytes that are not UTF-8 (os.listdir keeps them as surrogates,
    which no CSV, JSON or database can store) are shown as backslash escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def read_timestamp(folder: Path) -> str | None:
    """The submission time in nbgrader's timestamp.txt (None if there is none); ValueError naming
    the file for one that cannot be read as a date."""
    from dateutil.parser import parse

    stamp = folder / "timestamp.txt"
    if not stamp.exists():
        return None
    try:
        text = stamp.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{stamp}: cannot read the submission time ({exc})") from None
    if not text:
        return None
    try:
        parse(text)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{stamp}: {text[:60]!r} is not a date and time ({exc})") from None
    return text


# --------------------------------------------------------------------------- the batch

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_limits(timeout: float | None):
    """sandbox.Limits with every wall-clock limit capped at `timeout` seconds per submission."""
    from ..sandbox import Limits

    limits = Limits()
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        limits.total_timeout = float(timeout)
        limits.cell_timeout = min(limits.cell_timeout, float(timeout))
        limits.call_timeout = min(limits.call_timeout, float(timeout))
    return limits


def grade_batch(course: "Course", out_dir: str | os.PathLike | None = None, *,
                submissions_dir: str | os.PathLike | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False, progress: bool = True,
                grade: Callable = default_grade, limits=None,
                host_factory: Callable | None = sandbox_host,
                watchdog: float | None = None) -> BatchSummary:
    """Grade every submission of the course's assignment; returns the summary (no reports).

    out_dir          where cache/ goes (default `<course>/grading-output`)
    submissions_dir  a plain folder of `<student>/<assignment>/*.ipynb` (default: the course's
                     submitted/)
    workers          worker processes (default: all cores)
    timeout          wall seconds allowed per submission (caps the sandbox's wall-clock limits)
    force            regrade everything, ignoring cached results
    grade            the grading function, grade(path, course, *, host, limits, student)
                     (tests inject a fake one)
    host_factory     makes each worker's long-lived host from the limits (None: no host)
    watchdog         wall seconds after which a worker still grading one submission is killed
                     (default 1.5 x the limits' total_timeout + 30 s: a last resort)
    """
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else course.root / "grading-output"
    root = Path(submissions_dir) if submissions_dir is not None else course.submitted
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if limits is None and (timeout is not None or grade is default_grade):
        limits = make_limits(timeout)

    jobs = discover(root, course.assignment)
    autograder = fingerprint(course, limits, grade)
    cache = ResultCache(out)
    results: dict[str, dict] = {}
    todo: list[Job] = []
    keys: dict[str, str] = {}
    for job in jobs:
        if job.error is not None:
            results[job.student] = error_result(job.student, job.notebook, course.criteria, job.error)
            continue
        keys[job.student] = key = cache_key(job.student, job.notebook, job.digest, autograder)
        cached = None if force else cache.load(key)
        if cached is not None:
            results[job.student] = cached
        else:
            todo.append(job)
    reused = sum(1 for j in jobs if j.error is None) - len(todo)
    n_workers = min(workers or default_workers(), max(1, len(todo)))
    if progress:
        print(f"{len(jobs)} submissions of {course.assignment} in {root}: {reused} unchanged "
              f"(cached), {len(todo)} to grade with {n_workers} worker(s)", file=sys.stderr)

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="nb", desc="grading", file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)

    def on_result(job: Job, result: dict) -> None:
        result = {**result, "student": job.student}  # the folder name is the student id
        results[job.student] = cache.store(keys[job.student], result)
        if bar is not None:
            bar.update(1)

    try:
        if todo:
            if watchdog is None:
                watchdog = 1.5 * limits.total_timeout + 30.0 if limits is not None else 3600.0
            run_pool(todo, workers=n_workers, grade=grade, course=course, limits=limits,
                     host_factory=host_factory, watchdog=watchdog, on_result=on_result)
    finally:
        if bar is not None:
            bar.close()

    cache.prune(set(keys.values()))
    return BatchSummary(course=course, results=[results[s] for s in sorted(results)], out_dir=out,
                        graded_now=len(todo), reused=reused, workers=n_workers,
                        notebooks={j.student: j.path for j in jobs},
                        timestamps={j.student: j.timestamp for j in jobs if j.timestamp},
                        grading_seconds=time.perf_counter() - started)
