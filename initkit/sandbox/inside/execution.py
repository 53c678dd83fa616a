"""Running student code: cells in a notebook-like namespace, errors shown as student frames only.

Used inside the sandbox (child.py) and by the in-process floor (initkit.sandbox.inprocess), so both
ways of running a student behave the same.
"""

from __future__ import annotations

import builtins
import io
import traceback

CELL_PREFIX = "<cell "      # code compiled from cell k has the file name "<cell k>"


class BoundedWriter(io.TextIOBase):
    """A text stream keeping the first `limit` characters and counting the rest, so printing
    hundreds of megabytes costs time (bounded by the timeouts) but no memory."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


def student_traceback(exc: BaseException) -> str:
    """The traceback restricted to frames of student cells (never grader or host frames)."""
    if isinstance(exc, SyntaxError) and (exc.filename or "").startswith(CELL_PREFIX):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if (f.filename or "").startswith(CELL_PREFIX)]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()


def new_namespace() -> dict:
    """A fresh module namespace for the cells, like a notebook's (`__name__ == "__main__"`)."""
    return {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}


def run_cell(ns: dict, index: int, source: str) -> dict | None:
    """Run one cell in `ns`; None if it succeeded, else {"cell", "kind": "error", "message"}."""
    try:
        code = compile(source, f"{CELL_PREFIX}{index}>", "exec")
        exec(code, ns)
    except BaseException as exc:  # noqa: BLE001 - a notebook records every cell error and goes on
        return {"cell": index, "kind": "error", "message": student_traceback(exc)}
    return None


def error_info(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": _safe_str(exc),
            "traceback": student_traceback(exc)}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:10000]
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        return f"<{type(exc).__name__} with an unprintable message>"


