"""One grading run at a time per output folder.

Every initkit command that writes into an output folder holds its lock for as long as it writes:
`initkit grade` (api.grade), `initkit feedback` (api.feedback) and `initkit audit` (audit.run).
Writers that are not initkit's (formgrader, nbgrader autograde) never write into an output folder;
what they share with a run, the gradebook, is written in short transactions.

A run holds an exclusive lock (flock) on `<out>/.initkit.lock`, which records who holds it: pid,
host, command and start time. The kernel releases the lock when its process dies, however it dies,
so a lock left by a killed run is simply taken over, never waited on. A second run either says who
is running and stops (RunLocked), or waits for it (`wait=True`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

LOCK_FILE = ".initkit.lock"

logger = logging.getLogger(__name__)


class RunLocked(Exception):
    """Another run holds the output folder; str() says who and since when."""


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "another run"
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
            f"(`{info.get('command', '?')}`, since {info.get('started', '?')})")


@contextmanager
def output_lock(folder: str | os.PathLike, *, wait: bool = False, poll: float = 0.5,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of `folder` (created if needed) for the duration of the block.

    wait     False: raise RunLocked at once if another run holds it; True: wait for it
    on_wait  called once with who holds it, when waiting starts (default: logged as a warning)
    """
    if on_wait is None:
        on_wait = logger.warning
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = _holder(fd)
                if not wait:
                    raise RunLocked(f"{folder}: another initkit run is writing here: {who}; "
                                    "wait for it to finish, or pass --wait") from None
                if not told:
                    on_wait(f"{folder}: waiting for the run that holds it: {who}")
                told = True
                time.sleep(poll)
        # Whatever the file says now is from a run that ended (the kernel released its lock).
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
            "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        }).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)          # releases the lock
