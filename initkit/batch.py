"""Grade many submissions in parallel, resumably, deterministically.

The steps, in order (see `grade_batch`):
  1. discover  `submitted/<student>/<assignment>/*.ipynb` -> one Job per student
  2. reuse     results cached under `<out>/cache/` whose key (submission bytes + autograder
               fingerprint) still matches, unless `force`
  3. grade     the rest in a process pool; each worker keeps ONE SandboxHost for its lifetime;
               every result is written to the cache (atomically) the moment it arrives, so a
               Ctrl-C or a kill keeps everything finished so far
  4. report    grades.csv, grades.json, HTML feedback, gradebook (initkit.reports)

Results are sorted by student, so the output never depends on the worker count or the order in
which workers finish.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from statistics import mean, median
from typing import Any, Callable

from . import paths
from .criteria import ASSIGNMENT, CRITERIA

CACHE_DIR = "cache"
# initkit modules whose source decides a grade: a change to any of them invalidates the cache.
GRADING_MODULES = ("criteria", "notebook", "sandbox", "_student_host", "reference",
                   "inprocess", "runner", "grading")


def _default_grade(path, *, host=None, limits=None, student=None) -> dict:
    """The real autograder (imported lazily: it pulls in numpy and the sandbox)."""
    from .grading import grade_notebook

    return grade_notebook(path, host=host, limits=limits, student=student)


def sandbox_host(limits):
    """Default worker host factory: one long-lived sandbox per worker process."""
    from .sandbox import SandboxHost

    return SandboxHost(limits)


@dataclass(frozen=True)
class Job:
    """One student's submission of the assignment, as found on disk."""

    student: str
    notebook: str                  # the notebook's file name (or the assignment's, if none)
    path: Path | None = None       # None when the folder holds no notebook or several
    error: str | None = None       # why it cannot be graded, found before grading
    digest: str | None = None      # sha256 of the file's bytes


@dataclass
class BatchSummary:
    """What a batch produced: the results (sorted by student) and where the files went."""

    assignment: str
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
        """Criteria on which the most graded submissions lost points, most first (ties: table order)."""
        counts = {name: 0 for name in CRITERIA}
        for r in self.graded:
            for name, c in r["criteria"].items():
                if name in counts and c["score"] < c["max_score"] - 1e-9:
                    counts[name] += 1
        order = list(CRITERIA)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0])))
        return [(name, k) for name, k in ranked if k > 0][:n]


def timed_out(result: dict) -> bool:
    """True if any part of the submission hit a time limit."""
    if any(t.get("outcome") == "timeout" for t in result.get("tests", [])):
        return True
    if any(e.get("kind") == "timeout" for e in result.get("cell_errors", [])):
        return True
    return "timed out" in (result.get("error") or "")


def error_result(student: str, notebook: str, message: str, duration: float = 0.0) -> dict:
    """A row in the one result shape for a submission that could not be graded."""
    from .grading import error_result as graded_error  # the shape is built in one place

    return graded_error(notebook, message, student=student, duration=duration)


# --------------------------------------------------------------------------- discovery

def submissions_root(course_dir: str | os.PathLike) -> Path:
    return Path(course_dir) / "submitted"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def discover(root: str | os.PathLike, assignment: str = ASSIGNMENT) -> list[Job]:
    """One Job per `<root>/<student>/<assignment>/` folder, sorted by student.

    Students without a folder for this assignment did not submit it and get no row; a folder with
    no notebook or several gets a Job carrying the reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder not found: {root}")
    jobs = []
    for student_dir in sorted(root.iterdir()):
        folder = student_dir / assignment
        if student_dir.name.startswith(".") or not folder.is_dir():
            continue
        student = student_dir.name
        found = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))
        if not found:
            jobs.append(Job(student, f"{assignment}.ipynb",
                            error=f"{folder}: no notebook (.ipynb) in the submission folder"))
        elif len(found) > 1:
            names = ", ".join(p.name for p in found)
            jobs.append(Job(student, found[0].name,
                            error=f"{folder}: {len(found)} notebooks ({names}); expected exactly one"))
        else:
            try:
                digest = _sha256_file(found[0])
            except OSError as exc:
                jobs.append(Job(student, found[0].name, found[0],
                                error=f"{found[0]}: cannot read: {exc.strerror or exc}"))
                continue
            jobs.append(Job(student, found[0].name, found[0], digest=digest))
    return jobs


# --------------------------------------------------------------------------- cache

def autograder_fingerprint(limits=None, grade: Callable = _default_grade) -> str:
    """Hash of everything that decides a grade besides the submission itself.

    The hidden tests' files, the source notebook (the trusted reference), initkit's grading
    modules, the limits and the grading function's name.
    """
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    try:
        hidden, source = paths.hidden_tests_dir(), paths.source_notebook()
    except FileNotFoundError:  # no course found: grading will say so; nothing to hash here
        hidden = source = Path("/nonexistent")
    if hidden.is_dir():
        for f in sorted(hidden.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix != ".pyc":
                add(f"hidden/{f.relative_to(hidden).as_posix()}", f.read_bytes())
    add("source", source.read_bytes() if source.is_file() else b"<missing>")
    package = Path(__file__).resolve().parent
    for name in GRADING_MODULES:
        module = package / f"{name}.py"
        add(f"initkit/{name}", module.read_bytes() if module.is_file() else b"<missing>")
    if limits is None:
        add("limits", b"<defaults in sandbox.py>")
    else:
        fields = asdict(limits) if is_dataclass(limits) else vars(limits)
        add("limits", json.dumps(fields, sort_keys=True, default=str).encode())
    add("grade", f"{getattr(grade, '__module__', '?')}.{getattr(grade, '__qualname__', repr(grade))}".encode())
    return h.hexdigest()


def cache_key(job: Job, fingerprint: str) -> str:
    text = "\0".join([fingerprint, job.student, job.notebook, job.digest or ""])
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write via a temp file in the same folder and os.replace: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def json_default(value):
    """numpy scalars and arrays in a result become plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable in a result: {type(value).__name__}")


def _load_cached(path: Path) -> dict | None:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None          # missing or unreadable: grade again
    return result if isinstance(result, dict) and "status" in result else None


# --------------------------------------------------------------------------- workers

_HOST = None
_HOST_ERROR: str | None = None


class HostStartError(RuntimeError):
    """A worker could not start its sandbox host: a set-up problem, not a submission's."""


# OpenBLAS reads its thread count when numpy loads, and its idle threads spin-wait. Workers
# already use every core, so each must have exactly one BLAS thread: with two, a batch used
# about twice the CPU per submission (benchmarks/bench_grade.py). A worker that imports numpy
# itself reads ONE_BLAS_THREAD; one forked from a process that had loaded numpy inherits that
# process's setting, so _run_pool lowers it there around the forks. (threadpoolctl's limit
# called inside a forked worker re-creates OpenBLAS's thread pool: one spinning thread more.)
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _init_worker(host_factory, limits) -> None:
    """Runs once in each worker process: start its sandbox, close it when the worker exits."""
    global _HOST, _HOST_ERROR
    # Ctrl-C reaches the whole process group; the parent decides how to stop, workers carry on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(ONE_BLAS_THREAD)
    if host_factory is not None:
        from multiprocessing.util import Finalize

        try:
            _HOST = host_factory(limits)
        except Exception as exc:  # reported by the first job, which stops the batch
            _HOST_ERROR = f"{type(exc).__name__}: {exc}"
            return
        Finalize(_HOST, _HOST.close, exitpriority=100)


def _grade_in_worker(grade: Callable, path: str, student: str, notebook: str, limits) -> dict:
    if _HOST_ERROR is not None:
        raise HostStartError(f"could not start the sandbox in a grading worker: {_HOST_ERROR}")
    start = time.perf_counter()
    try:
        result = grade(path, host=_HOST, limits=limits, student=student)
    except Exception as exc:  # a grader bug costs this row, never the batch
        return error_result(student, notebook, f"{path}: internal grading error: "
                            f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    return result


def _kill_pool(executor) -> None:
    """Stop a pool now: kill its workers (their sandboxes die with them) and drop queued work."""
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, AttributeError):
            pass
    executor.shutdown(wait=True, cancel_futures=True)


def _run_pool(jobs: list[Job], **kwargs) -> None:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):     # inherited by the workers forked meanwhile
        _run_pool_forked(jobs, **kwargs)


def _run_pool_forked(jobs: list[Job], *, workers: int, grade: Callable, limits, host_factory,
                     watchdog: float, on_result: Callable[[Job, dict], None]) -> None:
    """Grade `jobs` with at most `workers` in flight; survive crashed and hung workers.

    Keeping at most one job per worker in flight means a job starts when it is submitted, so the
    watchdog can time it, and a broken pool has a known, small set of suspects. After a worker
    dies, each suspect is regraded alone in a fresh pool: the one that breaks it alone gets an
    error row, the innocent ones get their grade.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pending = deque(jobs)
    suspects: deque[Job] = deque()

    def crashed(job: Job) -> dict:
        return error_result(job.student, job.notebook, f"{job.path}: the grading worker process died "
                            "while grading this submission (and again when it was graded alone)")

    def submit_more() -> None:
        """Into the current pool: suspects of a crash run alone; otherwise one job per worker."""
        nonlocal broken
        while not broken and (suspects and not inflight
                              or not suspects and pending and len(inflight) < workers):
            queue, alone = (suspects, True) if suspects else (pending, False)
            job = queue.popleft()
            try:
                fut = executor.submit(_grade_in_worker, grade, str(job.path), job.student,
                                      job.notebook, limits)
            except BrokenProcessPool:  # broke since the last wait: retry in a new pool
                queue.appendleft(job)
                broken = True
            else:
                inflight[fut] = (job, time.monotonic(), alone)

    while pending or suspects:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                       initializer=_init_worker, initargs=(host_factory, limits))
        inflight: dict[Any, tuple[Job, float, bool]] = {}
        unfiled: dict[Any, tuple[Job, float, bool]] = {}     # finished, result not filed yet
        broken = False
        try:
            while (pending or suspects or inflight) and not broken:
                submit_more()
                done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    unfiled[fut] = inflight.pop(fut)
                if all(fut.exception() is None for fut in done):
                    submit_more()   # the next jobs start before the parent files these results
                for fut in done:
                    job, _, alone = unfiled[fut]
                    try:
                        on_result(job, fut.result())
                    except BrokenProcessPool:
                        broken = True
                        if alone:
                            on_result(job, crashed(job))
                        else:
                            suspects.append(job)
                    del unfiled[fut]
                now = time.monotonic()
                for fut, (job, started, alone) in list(inflight.items()):
                    if now - started > watchdog and not fut.done():
                        # The sandbox's own limits should have stopped it long ago: kill the
                        # worker, record this one, requeue the others that were in flight.
                        inflight.pop(fut)
                        on_result(job, error_result(
                            job.student, job.notebook,
                            f"{job.path}: grading timed out after {watchdog:.0f} s (worker killed)",
                            now - started))
                        broken = True
                if broken:
                    _kill_pool(executor)
                    for fut, (job, _, alone) in inflight.items():
                        ok = fut.done() and not fut.cancelled() and fut.exception() is None
                        if ok:
                            on_result(job, fut.result())
                        elif alone:
                            on_result(job, crashed(job))
                        else:
                            suspects.append(job)
                    inflight.clear()
        except BaseException:
            # Ctrl-C or an error: keep every result that is already finished, then stop.
            try:
                for fut, (job, _, _) in [*unfiled.items(), *inflight.items()]:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        on_result(job, fut.result())
            finally:
                _kill_pool(executor)
            raise
        else:
            if not broken:
                executor.shutdown(wait=True)


# --------------------------------------------------------------------------- the batch

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_limits(timeout: float | None):
    """sandbox.Limits with every wall-clock limit capped at `timeout` seconds per submission."""
    from .sandbox import Limits

    limits = Limits()
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        limits.total_timeout = float(timeout)
        limits.cell_timeout = min(limits.cell_timeout, float(timeout))
        limits.call_timeout = min(limits.call_timeout, float(timeout))
    return limits


def grade_batch(course_dir: str | os.PathLike | None = None, assignment: str = ASSIGNMENT,
                out_dir: str | os.PathLike | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False, progress: bool = True,
                grade: Callable = _default_grade, *, submissions_dir: str | os.PathLike | None = None,
                limits=None, host_factory: Callable | None = sandbox_host,
                gradebook: str | bool | None = None, watchdog: float | None = None) -> BatchSummary:
    """Grade every submission of `assignment` and write the reports; returns the summary.

    course_dir       the nbgrader course (default: initkit.paths.course_root()); submissions are
                     read from `<course_dir>/submitted/` unless `submissions_dir` is given (a plain
                     folder of `<student>/<assignment>/*.ipynb`)
    out_dir          where grades.csv, grades.json, feedback/ and cache/ go
                     (default `<course_dir>/grading-output`)
    workers          worker processes (default: all cores)
    timeout          wall seconds allowed per submission (caps the sandbox's wall-clock limits)
    force            regrade everything, ignoring cached results
    grade            the grading function (tests inject a fake one)
    host_factory     makes each worker's long-lived host from the limits (None: no host)
    gradebook        None: the course's gradebook.db; a URL: that database; False: skip
    watchdog         wall seconds after which a worker still grading one submission is killed
                     (default 1.5 x the limits' total_timeout + 30 s: a last resort)
    """
    from . import reports

    started = time.perf_counter()
    course = paths.course_root(course_dir)
    out = Path(out_dir) if out_dir is not None else course / "grading-output"
    root = Path(submissions_dir) if submissions_dir is not None else submissions_root(course)
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if limits is None and (timeout is not None or grade is _default_grade):
        limits = make_limits(timeout)

    jobs = discover(root, assignment)
    fingerprint = autograder_fingerprint(limits, grade)
    cache = out / CACHE_DIR
    results: dict[str, dict] = {}
    todo: list[Job] = []
    keys: dict[str, str] = {}
    for job in jobs:
        if job.error is not None:
            results[job.student] = error_result(job.student, job.notebook, job.error)
            continue
        keys[job.student] = key = cache_key(job, fingerprint)
        cached = None if force else _load_cached(cache / f"{key}.json")
        if cached is not None:
            results[job.student] = cached
        else:
            todo.append(job)
    reused = sum(1 for j in jobs if j.error is None) - len(todo)
    todo_now = todo
    n_workers = min(workers or default_workers(), max(1, len(todo_now)))
    if progress:
        print(f"{len(jobs)} submissions of {assignment} in {root}: {reused} unchanged (cached), "
              f"{len(todo_now)} to grade with {n_workers} worker(s)", file=sys.stderr)

    bar = None
    if progress and todo_now:
        from tqdm import tqdm

        bar = tqdm(total=len(todo_now), unit="nb", desc="grading", file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)

    def on_result(job: Job, result: dict) -> None:
        result = {**result, "student": job.student}  # the folder name is the student id
        text = json.dumps(result, default=json_default)
        atomic_write(cache / f"{keys[job.student]}.json", text)
        results[job.student] = json.loads(text)    # fresh and cached results are identical
        if bar is not None:
            bar.update(1)

    pool_started = time.perf_counter()
    try:
        if todo_now:
            if watchdog is None:
                watchdog = 1.5 * limits.total_timeout + 30.0 if limits is not None else 3600.0
            _run_pool(todo_now, workers=n_workers, grade=grade, limits=limits,
                      host_factory=host_factory, watchdog=watchdog, on_result=on_result)
    finally:
        if bar is not None:
            bar.close()

    grading_seconds = time.perf_counter() - pool_started
    ordered = [results[s] for s in sorted(results)]
    summary = BatchSummary(assignment=assignment, results=ordered, out_dir=out,
                           graded_now=len(todo_now), reused=reused, workers=n_workers,
                           notebooks={j.student: j.path for j in jobs})
    _prune_cache(cache, set(keys.values()))
    reports_started = time.perf_counter()
    summary.files = reports.write_reports(summary, course_dir=course, gradebook=gradebook)
    summary.grading_seconds = grading_seconds
    summary.reports_seconds = time.perf_counter() - reports_started
    summary.elapsed = time.perf_counter() - started
    return summary


def _prune_cache(cache: Path, keep: set[str]) -> None:
    """Drop cached results no current submission uses (old versions, older autograders)."""
    if not cache.is_dir():
        return
    for f in cache.glob("*.json"):
        if f.stem not in keep:
            f.unlink(missing_ok=True)
