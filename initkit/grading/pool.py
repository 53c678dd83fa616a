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
from .result import error_result

if TYPE_CHECKING:
    from ..course import Course

_HOST = None
_HOST_ERROR: str | None = None


class HostStartError(RuntimeError):
    """A worker could not start its sandbox host: a set-up problem, not a submission's."""


# OpenBLAS reads its thread count when numpy loads, and its idle threads spin-wait. Workers
# already use every core, so each must have exactly one BLAS thread: with two, a batch used
# about twice the CPU per submission (benchmarks/bench_grade.py). A worker that imports numpy
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


def _grade_in_worker(grade: Callable, course: "Course", hand_in, limits) -> dict:
    if _HOST_ERROR is not None:
        raise HostStartError(f"could not start the sandbox in a grading worker: {_HOST_ERROR}")
    start = time.perf_counter()
    try:
        result = grade(hand_in, course, host=_HOST, limits=limits)
    except Exception as exc:  # a grader bug costs this row, never the batch
        return error_result(hand_in.student, hand_in.name, course.criteria,
                            f"{hand_in.path or hand_in.name}: internal grading error: "
                            f"{type(exc).__name__}: {exc}",
                            duration=time.perf_counter() - start)
    return result


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
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pending = deque(jobs)
    suspects: deque = deque()

    def crashed(job) -> dict:
        return error_result(job.student, job.notebook, course.criteria,
                            f"{job.shown}: the grading worker process died "
                            "while grading this submission (and again when it was graded alone)")

    def submit_more() -> None:
        """Into the current pool: suspects of a crash run alone; otherwise one job per worker."""
        nonlocal broken
        while not broken and (suspects and not inflight
                              or not suspects and pending and len(inflight) < workers):
            queue, alone = (suspects, True) if suspects else (pending, False)
            job = queue.popleft()
            try:
                hand_in = job.load()
            except SubmissionError as exc:
                on_result(job, error_result(job.student, job.notebook, course.criteria, str(exc)))
                continue
            try:
                fut = executor.submit(_grade_in_worker, grade, course, hand_in, limits)
            except BrokenProcessPool:  # broke since the last wait: retry in a new pool
                queue.appendleft(job)
                broken = True
            else:
                inflight[fut] = (job, time.monotonic(), alone)

    while pending or suspects:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                       initializer=_init_worker, initargs=(host_factory, limits))
        inflight: dict[Any, tuple[Any, float, bool]] = {}
        unfiled: dict[Any, tuple[Any, float, bool]] = {}     # finished, result not filed yet
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
                            job.student, job.notebook, course.criteria,
                            f"{job.shown}: grading timed out after {watchdog:.0f} s (worker killed)",
                            duration=now - started))
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


