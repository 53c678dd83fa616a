"""Write files so that a reader never sees half of one: a temp file in the same folder, then
os.replace. Used by the result cache and every report.

A batch writes thousands of small files (a cached result, a feedback page, an autograded notebook
per student): one fsync each costs more than writing them, the more so while the disk is busy
(docs/performance.md). Those are written with `durable=False` and made durable together by one `sync_folder`
at the end of the batch; a crash before it loses at most files the next run writes again (a
cached result that cannot be read is graded again)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Iterable


def atomic_write(path: str | os.PathLike, data: str | bytes | Iterable[str], *,
                 durable: bool = True) -> None:
    """Write via a temp file in the same folder and os.replace: readers never see half a file.
    `data` may be text in parts (an iterable of str: a big file need not be one string).
    durable=False skips the fsync (see sync_folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temp name: the target's own name may already be close to the 255-byte limit.
    tmp = path.with_name(f".initkit-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # Text is UTF-8; a lone surrogate (a student's string can hold one) is written escaped.
    text = {} if isinstance(data, bytes) else {"encoding": "utf-8", "errors": "backslashreplace"}
    try:
        with open(tmp, "wb" if isinstance(data, bytes) else "w", **text) as f:
            if isinstance(data, (str, bytes)):
                f.write(data)
            else:
                f.writelines(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sync_folder(path: str | os.PathLike) -> None:
    """Flush to disk everything written so far on the file system holding `path` (syncfs on
    Linux, one call for a whole batch's files; sync elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        if not _syncfs(fd):
            os.sync()
    finally:
        os.close(fd)


def _syncfs(fd: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0
    except (OSError, AttributeError):
        return False


def json_default(value):
    """numpy scalars and arrays in a result become plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable in a result: {type(value).__name__}")


