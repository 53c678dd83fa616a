"""The worker pool: grade jobs in parallel processes, each with one long-lived sandbox host, and
survive workers that crash or hang.

Workers are forked; each keeps ONE SandboxHost for its lifetime (host_factory). At most one job
per worker is in flight, so the watchdog can time each job and a broken pool has a small, known
set of suspects, each regraded alone in a fresh pool.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from ..submission import SubmissionError
from .result import Result, error_result, grade_or_error_row

if TYPE_CHECKING:
    from ..course import Course

_HOST = None
_HOST_ERROR: str | None = None


class HostStartError(RuntimeError):
    """A worker could not start its sandbox host: a set-up problem, not a submission's."""


# OpenBLAS reads its thread count when numpy loads, and its idle threads spin-wait. Workers
# already use every core, so each must have exactly one BLAS thread: with more, their spinning
# costs the batch CPU that grading needs (docs/performance.md). A worker that imports numpy
# itself reads ONE_BLAS_THREAD; one forked from a process that had loaded numpy inherits that
# process's setting, so run_pool lowers it there around the forks. (threadpoolctl's limit
# called inside a forked worker re-creates OpenBLAS's thread pool: one spinning thread more.)
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _init_worker(host_factory, limits) -> None:
    """Runs once in each worker process: pin it to a CPU, start its sandbox, close it when the
    worker exits."""
    global _HOST, _HOST_ERROR
    # Ctrl-C reaches the whole process group; the parent decides how to stop, workers carry on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(ONE_BLAS_THREAD)
    if host_factory is not None:
        from .cpus import pin_to_free_cpu

        pin_to_free_cpu()           # before the sandbox starts: its processes inherit the CPU
    if host_factory is not None:
        from multiprocessing.util import Finalize

        try:
            _HOST = host_factory(limits)
        except Exception as exc:  # reported by the first job, which stops the batch
            _HOST_ERROR = f"{type(exc).__name__}: {exc}"
            return
        Finalize(_HOST, _HOST.close, exitpriority=100)


def sandbox_host(limits):
    """Default worker host factory: one long-lived sandbox per worker process."""
    from ..sandbox import SandboxHost

    return SandboxHost(limits)


def _grade_in_worker(grade: Callable, course: "Course", hand_in, limits) -> Result:
    if _HOST_ERROR is not None:
        raise HostStartError(f"could not start the sandbox in a grading worker: {_HOST_ERROR}")
    return grade_or_error_row(lambda: grade(hand_in, course, host=_HOST, limits=limits), course,
                              student=hand_in.student, notebook=hand_in.name,
                              shown=hand_in.path or hand_in.name)


def _kill_pool(executor) -> None:
    """Stop a pool now: kill its workers (their sandboxes die with them) and drop queued work."""
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, AttributeError):
            pass
    executor.shutdown(wait=True, cancel_futures=True)


def run_pool(jobs: list, **kwargs) -> None:
    """Grade `jobs` (see _run_pool_forked) with one BLAS thread per worker."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):     # inherited by the workers forked meanwhile
        _run_pool_forked(jobs, **kwargs)


def _run_pool_forked(jobs: list, *, workers: int, grade: Callable, course: "Course", limits,
                     host_factory, watchdog: float, on_result: Callable[[Any, dict], None]) -> None:
    """Grade `jobs` with at most `workers` in flight; survive crashed and hung workers.

    Keeping at most one job per worker in flight means a job starts when it is submitted, so the
    watchdog can time it, and a broken pool has a known, small set of suspects. After a worker
    dies, each suspect is regraded alone in a fresh pool: the one that breaks it alone gets an
    error row, the innocent ones get their grade.
    """
    run = _PoolRun(jobs, workers=workers, grade=grade, course=course, limits=limits,
                   host_factory=host_factory, watchdog=watchdog, on_result=on_result)
    while run.pending or run.suspects:
        run.one_pool()


class _PoolRun:
    """The state of one `_run_pool_forked`: the jobs not started, the suspects of a crash, and
    the current pool with its jobs in flight. Each pool lives until the jobs are done or it breaks
    (a worker died or was killed); the next pool takes over what is left."""

    def __init__(self, jobs: list, *, workers: int, grade: Callable, course: "Course", limits,
                 host_factory, watchdog: float, on_result: Callable[[Any, dict], None]):
        import multiprocessing

        self.pending, self.suspects = deque(jobs), deque()
        self.workers, self.grade, self.course, self.limits = workers, grade, course, limits
        self.host_factory, self.watchdog, self.on_result = host_factory, watchdog, on_result
        self.context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.executor = None
        self.inflight: dict[Any, tuple[Any, float, bool]] = {}   # future -> (job, started, alone)
        self.unfiled: dict[Any, tuple[Any, float, bool]] = {}    # finished, result not filed yet
        self.broken = False

    def one_pool(self) -> None:
        """Start a pool and grade with it until everything is done or it breaks."""
        from concurrent.futures import ProcessPoolExecutor

        self.executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=self.context,
                                            initializer=_init_worker,
                                            initargs=(self.host_factory, self.limits))
        self.inflight, self.unfiled, self.broken = {}, {}, False
        try:
            while (self.pending or self.suspects or self.inflight) and not self.broken:
                self._step()
        except BaseException:
            # Ctrl-C or an error: keep every result that is already finished, then stop.
            try:
                for fut, (job, _, _) in [*self.unfiled.items(), *self.inflight.items()]:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        self.on_result(job, fut.result())
            finally:
                _kill_pool(self.executor)
            raise
        else:
            if not self.broken:
                self.executor.shutdown(wait=True)

    def _step(self) -> None:
        """Start jobs, wait up to a second for some to finish, file them, enforce the watchdog."""
        from concurrent.futures import FIRST_COMPLETED, wait

        self._submit_more()
        done, _ = wait(list(self.inflight), timeout=1.0, return_when=FIRST_COMPLETED)
        for fut in done:
            self.unfiled[fut] = self.inflight.pop(fut)
        if all(fut.exception() is None for fut in done):
            self._submit_more()   # the next jobs start before the parent files these results
        self._file(done)
        self._kill_hung_jobs()
        if self.broken:
            self._end_broken_pool()

    def _submit_more(self) -> None:
        """Into the current pool: suspects of a crash run alone; otherwise one job per worker."""
        from concurrent.futures.process import BrokenProcessPool

        while not self.broken and (self.suspects and not self.inflight or not self.suspects
                                   and self.pending and len(self.inflight) < self.workers):
            queue, alone = (self.suspects, True) if self.suspects else (self.pending, False)
            job = queue.popleft()
            try:
                hand_in = job.load()
            except SubmissionError as exc:
                self.on_result(job, error_result(job.student, job.notebook, self.course.criteria,
                                                 str(exc)))
                continue
            try:
                fut = self.executor.submit(_grade_in_worker, self.grade, self.course, hand_in,
                                           self.limits)
            except BrokenProcessPool:  # broke since the last wait: retry in a new pool
                queue.appendleft(job)
                self.broken = True
            else:
                self.inflight[fut] = (job, time.monotonic(), alone)

    def _file(self, done) -> None:
        """The finished jobs' results to on_result; a job whose worker died is a suspect, or, if
        it ran alone, the culprit."""
        from concurrent.futures.process import BrokenProcessPool

        for fut in done:
            job, _, alone = self.unfiled[fut]
            try:
                self.on_result(job, fut.result())
            except BrokenProcessPool:
                self.broken = True
                if alone:
                    self.on_result(job, self._crashed(job))
                else:
                    self.suspects.append(job)
            del self.unfiled[fut]

    def _kill_hung_jobs(self) -> None:
        """A job in flight longer than the watchdog: the sandbox's own limits should have stopped
        it long ago. It gets an error row and its pool is ended (killing its worker); the other
        jobs in flight are requeued (_end_broken_pool)."""
        now = time.monotonic()
        for fut, (job, started, _) in list(self.inflight.items()):
            if now - started > self.watchdog and not fut.done():
                self.inflight.pop(fut)
                self.on_result(job, error_result(
                    job.student, job.notebook, self.course.criteria,
                    f"{job.shown}: grading timed out after {self.watchdog:.0f} s (worker killed)",
                    duration=now - started))
                self.broken = True

    def _end_broken_pool(self) -> None:
        """Kill the pool; file what finished meanwhile; a job that ran alone is the culprit, the
        others are suspects, each regraded alone in the next pool."""
        _kill_pool(self.executor)
        for fut, (job, _, alone) in self.inflight.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.on_result(job, fut.result())
            elif alone:
                self.on_result(job, self._crashed(job))
            else:
                self.suspects.append(job)
        self.inflight.clear()

    def _crashed(self, job) -> Result:
        return error_result(job.student, job.notebook, self.course.criteria,
                            f"{job.shown}: the grading worker process died "
                            "while grading this submission (and again when it was graded alone)")
