"""One CPU for each grading worker and the sandbox it starts.

A worker and its student process take turns (each waits for the other's reply), so on one CPU
they lose no parallelism, and every message wakes a process on the same CPU: across CPUs each
wake-up is an interrupt to another CPU (a costly exit to the hypervisor in a VM) and the arrays
sent cross caches. Pinned, a sandboxed submission costs less CPU (docs/performance.md).

Workers claim CPUs with a lock file each (per user, in the temp folder), held until the process
exits: workers of two batches running at once, local or Dask workers on one machine, never share
a CPU while another has none. A worker that finds no free CPU (more workers than CPUs) is left to
the kernel's balancing, and so is every worker in a container with a CPU quota (cgroup cpu.max),
where CPUs are shared with other containers this lock folder cannot see.

Local pools pin by default; Dask workers only with INITKIT_PIN_WORKERS=1 (cluster nodes are often
shared). INITKIT_PIN_WORKERS=0 turns pinning off everywhere.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_held: dict[int, tuple[int, set[int]]] = {}    # thread id -> (lock fd, its CPUs before)


def default_workers() -> int:
    """How many worker processes a batch (or the audit's screening) starts by default: one per
    CPU this process may run on (its affinity, which a container or taskset may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def pin_to_free_cpu(default: bool = True) -> int | None:
    """Pin the calling thread (and the processes it starts from now on) to a CPU that no other
    grading worker on this machine holds; returns it, or None if pinning is off or none is free.

    default  whether to pin when INITKIT_PIN_WORKERS is not set"""
    setting = os.environ.get("INITKIT_PIN_WORKERS", "1" if default else "0")
    if setting == "0" or not hasattr(os, "sched_setaffinity") or _cpu_quota():
        return None
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        return None
    folder = Path(tempfile.gettempdir()) / f"initkit-cpus-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    for cpu in sorted(before):
        try:
            fd = os.open(folder / f"cpu{cpu}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.sched_setaffinity(0, {cpu})
        except OSError:             # held by another worker (or the CPU went away): the next one
            os.close(fd)
            continue
        _held[_thread_id()] = (fd, before)
        return cpu
    return None


def _cpu_quota() -> bool:
    """Whether this process's cgroup caps its CPU time (a container started with --cpus):
    cpu.max in cgroup v2, cpu.cfs_quota_us in v1."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return False
    for _id, controllers, path in (x for x in lines if len(x) == 3):
        try:
            if controllers == "":
                with open(f"/sys/fs/cgroup{path}/cpu.max") as f:
                    return not f.read().startswith("max")
            if "cpu" in controllers.split(","):
                with open(f"/sys/fs/cgroup/{controllers}{path}/cpu.cfs_quota_us") as f:
                    return int(f.read()) > 0
        except (OSError, ValueError):
            continue
    return False


def release(thread_id: int | None = None) -> None:
    """Give back the CPU a thread claimed (default: the calling one's) and restore its CPUs."""
    tid = _thread_id() if thread_id is None else thread_id
    fd, before = _held.pop(tid, (None, None))
    if fd is None:
        return
    if os.path.exists(f"/proc/self/task/{tid}"):      # still ours (a gone thread's id may be reused)
        try:
            os.sched_setaffinity(tid, before)
        except OSError:
            pass
    os.close(fd)


def _thread_id() -> int:
    import threading

    return threading.get_native_id()
