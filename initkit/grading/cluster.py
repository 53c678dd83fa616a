"""Grade a batch on an existing dask.distributed cluster (`initkit grade --scheduler ADDRESS`).

What travels: the course's grading bundle (hidden tests + source notebook, bundle.py) once per
worker, inside a worker plugin, and each submission's bytes inside its task. Workers need only the
installed kit (`pip install "initkit[dask]"`); they never see the course folder or the submissions
folder. Each worker thread keeps one warm sandbox host for all its tasks, as a local pool worker
does. Results come back to the caller's `on_result` as they finish (the batch files them into the
same cache, progress bar and reports as a local run).

Faults:
  * a lost worker loses nothing: Dask runs its tasks elsewhere;
  * a submission whose grading started twice and never finished (it killed its worker both times)
    is not started a third time: it gets an error row. Each start is counted in the task's own
    metadata on the scheduler, so only the task that was running is blamed, not the ones queued
    beside it;
  * no result for `watchdog` seconds: the tasks still running get error rows, the batch ends;
  * an unreachable scheduler is a ClusterError within `connect_timeout` seconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable

from ..course import CourseError
from ..submission import SubmissionError
from .cache import package_digest
from .pool import HostStartError
from .result import Result, error_result, grade_or_error_row

if TYPE_CHECKING:
    from ..bundle import CourseBundle
    from ..course import Course

CONNECT_TIMEOUT = 5.0         # seconds to reach the scheduler before giving up
MAX_STARTS = 2                # a task started this often without finishing is not started again
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ClusterError(RuntimeError):
    """The cluster cannot grade this batch (unreachable, a worker without the same initkit, ...)."""


class ClusterUsageError(ClusterError, CourseError):
    """--scheduler cannot be used as given (dask.distributed not installed, an address that is
    not one): a usage error, exit status 2, where an unreachable cluster is exit status 1."""


try:      # the plugin base class when distributed is installed; the module imports without it
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - only `initkit grade --scheduler` needs distributed
    _WorkerPlugin = object


class GraderPlugin(_WorkerPlugin):
    """Lives in each worker: the course written from its bundle into a private folder, and one
    sandbox host per worker thread, started on first use and closed with the worker."""

    idempotent = True

    def __init__(self, bundle: "CourseBundle", limits, host_factory: Callable | None,
                 package: str, collect: bool = True):
        self.bundle, self.limits, self.host_factory, self.package = bundle, limits, host_factory, package
        self.collect = collect       # load the hidden tests at set-up (the real grader needs them)
        self.course: Course | None = None
        self._folder: str | None = None
        self._local = threading.local()
        self._hosts: list = []
        self._pinned: list[int] = []      # worker threads that claimed a CPU
        self._lock = threading.Lock()

    def __getstate__(self):      # only the recipe travels; hosts and folders are per worker
        return {"bundle": self.bundle, "limits": self.limits, "host_factory": self.host_factory,
                "package": self.package, "collect": self.collect}

    def __setstate__(self, state):
        self.__init__(**state)

    def setup(self, worker=None) -> None:
        mine = package_digest()
        if mine != self.package:
            where = getattr(worker, "address", "a worker")
            raise ClusterError(f"{where} has a different initkit installed ({_PACKAGE}); install the "
                               "same version on the workers as on the machine running initkit grade")
        from .grade import check_grading_setup

        self._folder = tempfile.mkdtemp(prefix="initkit-course-")
        self.course = self.bundle.write(self._folder)
        if self.collect:
            check_grading_setup(self.course)   # collect the hidden tests once per worker

    def teardown(self, worker=None) -> None:
        for host in self._hosts:
            try:
                host.close()
            except Exception:  # noqa: BLE001 - closing what is left; the worker is going away
                pass
        self._hosts.clear()
        from .cpus import release

        for thread in self._pinned:        # the worker may run other work after this batch
            release(thread)
        self._pinned.clear()
        if self._folder:
            shutil.rmtree(self._folder, ignore_errors=True)

    def host(self):
        """This thread's sandbox host (HostStartError if it cannot start)."""
        if self.host_factory is None:
            return None
        if getattr(self._local, "host", None) is None:
            from .cpus import pin_to_free_cpu

            pin_to_free_cpu(default=False)   # opt-in on clusters (cpus.py)
            self._pinned.append(threading.get_native_id())
            try:
                host = self.host_factory(self.limits)
            except Exception as exc:
                raise HostStartError("could not start the sandbox on Dask worker "
                                     f"{_worker_address()}: {type(exc).__name__}: {exc}") from exc
            with self._lock:
                self._hosts.append(host)
            self._local.host = host
        return self._local.host


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:
        return "?"


def _count_start(key: str) -> int:
    """How many times the task `key` has started, this start included. Kept in the scheduler's
    metadata of the task itself, which the scheduler drops when it forgets the task."""
    from distributed import get_client

    client = get_client()
    starts = int(client.get_metadata([key, "initkit-starts"], default=0)) + 1
    client.set_metadata([key, "initkit-starts"], starts)
    return starts


def _grade_task(plugin_name: str, key: str, hand_in, grade: Callable, student: str,
                notebook: str, shown: str) -> Result:
    """Runs on a worker: one submission with the worker's course and warm sandbox host."""
    from distributed import get_worker

    plugin: GraderPlugin = get_worker().plugins[plugin_name]
    course = plugin.course
    if _count_start(key) > MAX_STARTS:
        return error_result(student, notebook, course.criteria,
                            f"{shown}: the grading worker died while grading this submission "
                            f"({MAX_STARTS} times); it was not graded again")
    host = plugin.host()
    return grade_or_error_row(lambda: grade(hand_in, course, host=host, limits=plugin.limits),
                              course, student=student, notebook=notebook, shown=shown)


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A distributed.Client for the scheduler at `address`, or a ClusterError within `timeout`."""
    try:
        from distributed import Client
    except ImportError:
        from ..extras import install_command

        raise ClusterUsageError("grading on a Dask cluster needs dask.distributed: "
                                + install_command("dask")) from None
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                           f"({' '.join(str(exc).split()) or type(exc).__name__})") from None
    except ValueError as exc:          # a malformed address
        raise ClusterUsageError(f"{address}: not a Dask scheduler address ({exc})") from None


def run_cluster(jobs: list, *, scheduler: Any, grade: Callable, course: "Course", limits,
                host_factory: Callable | None, watchdog: float,
                on_result: Callable[[Any, dict], None], collect: bool = True) -> int:
    """Grade `jobs` on the cluster; `scheduler` is an address or a distributed.Client. Calls
    on_result(job, result) as results arrive; returns the number of worker threads used.
    collect: the workers load the hidden tests at set-up (False for a grade function that does
    not use them)."""
    from distributed import Client, KilledWorker

    from ..bundle import CourseBundle

    client = scheduler if isinstance(scheduler, Client) else connect(str(scheduler))
    own_client = client is not scheduler
    batch = uuid.uuid4().hex[:12]
    plugin_name = f"initkit-grader-{batch}"
    try:
        threads = sum(client.nthreads().values())
        if not threads:
            raise ClusterError(f"the Dask cluster at {client.scheduler.address} has no workers")
        try:
            plugin = GraderPlugin(CourseBundle.of(course), limits, host_factory, package_digest(),
                                  collect=collect)
            client.register_plugin(plugin, name=plugin_name)
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"the Dask workers cannot grade this course: {type(exc).__name__}: "
                               f"{' '.join(str(exc).split())}") from None
        futures = {}
        for i, job in enumerate(jobs):
            try:
                hand_in = job.load()
            except SubmissionError as exc:
                on_result(job, error_result(job.student, job.notebook, course.criteria, str(exc)))
                continue
            key = f"initkit-{batch}-{i}"
            fut = client.submit(_grade_task, plugin_name, key, hand_in, grade, job.student,
                                job.notebook, job.shown, key=key, pure=False)
            futures[fut] = job
        _collect(futures, course, watchdog, on_result, KilledWorker)
        return threads
    finally:
        try:
            client.unregister_worker_plugin(plugin_name)
        except Exception:  # noqa: BLE001 - the cluster may be gone; grades are already filed
            pass
        if own_client:
            client.close()


def _collect(futures: dict, course: "Course", watchdog: float, on_result: Callable,
             KilledWorker) -> None:
    import queue

    finished: queue.SimpleQueue = queue.SimpleQueue()
    pending = dict(futures)
    for fut in futures:
        fut.add_done_callback(finished.put)
    last_progress = time.monotonic()
    while pending:
        done = []
        try:
            done.append(finished.get(timeout=1.0))
            while True:
                done.append(finished.get_nowait())
        except queue.Empty:
            pass
        done = [fut for fut in done if fut in pending]
        for fut in done:
            job = pending.pop(fut)
            try:
                result = fut.result()
            except KilledWorker:
                # Dask's own limit (the scheduler's allowed-failures) came first.
                result = error_result(job.student, job.notebook, course.criteria,
                                      f"{job.shown}: the grading workers died while grading this "
                                      "submission; it was not graded again")
            except HostStartError:
                raise
            except Exception as exc:  # noqa: BLE001 - one task's failure is one row
                result = error_result(job.student, job.notebook, course.criteria,
                                      f"{job.shown}: grading failed on the cluster: "
                                      f"{type(exc).__name__}: {exc}")
            on_result(job, result)
        if done:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > watchdog:
            # Nothing finished for a long time: whatever runs now is stuck. Record and drop it.
            running = _running(futures)
            stuck = [f for f in pending if f.key in running] or list(pending)
            for fut in stuck:
                job = pending.pop(fut)
                fut.cancel()
                on_result(job, error_result(job.student, job.notebook, course.criteria,
                                            f"{job.shown}: grading timed out after "
                                            f"{watchdog:.0f} s on the cluster"))
            last_progress = time.monotonic()


def _running(futures: dict) -> set:
    """Keys the scheduler has assigned to workers now."""
    client = next(iter(futures)).client
    try:
        return {key for keys in client.processing().values() for key in keys}
    except Exception:  # noqa: BLE001
        return set()
