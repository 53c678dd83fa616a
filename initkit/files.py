"""Write files so that a reader never sees half of one: a temp file in the same folder, fsync,
os.replace. Used by the result cache and every report."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write via a temp file in the same folder and os.replace: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temp name: the target's own name may already be close to the 255-byte limit.
    tmp = path.with_name(f".initkit-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    # Text is UTF-8; a lone surrogate (a student's string can hold one) is written escaped.
    text = {} if isinstance(data, bytes) else {"encoding": "utf-8", "errors": "backslashreplace"}
    try:
        with open(tmp, "wb" if isinstance(data, bytes) else "w", **text) as f:
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


