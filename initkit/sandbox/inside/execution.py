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


def _student_frames(exc: BaseException, sources: dict | None) -> list:
    """The frames of student cells, innermost last, each with its line of the cell's source (code
    compiled from a string has none in linecache)."""
    frames = []
    for f in traceback.extract_tb(exc.__traceback__):
        name = f.filename or ""
        if not name.startswith(CELL_PREFIX):
            continue
        line = f.line or _source_line(sources, name, f.lineno)
        frames.append(traceback.FrameSummary(name, f.lineno, f.name, line=line, lookup_line=False))
    return frames


def _source_line(sources: dict | None, filename: str, lineno: int | None) -> str:
    try:
        index = int(filename[len(CELL_PREFIX):].rstrip(">"))
        return sources[index].splitlines()[lineno - 1].strip()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return ""


def student_traceback(exc: BaseException, sources: dict | None = None) -> str:
    """The traceback restricted to frames of student cells (never grader or host frames).
    sources  {cell index: source} of the cells run so far, for the frames' lines"""
    if isinstance(exc, SyntaxError) and (exc.filename or "").startswith(CELL_PREFIX):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    frames = _student_frames(exc, sources)
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()


MAX_HEADLINE_CHARS = 1000


def error_headline(exc: BaseException, sources: dict | None = None) -> str:
    """One line for a person: the exception and the student's line that raised it (the innermost
    frame of a student cell; cells numbered from 1), e.g.
    "ValueError: shapes (3,4) and (5,1) not aligned — in cell 12, line 4: Z = W @ A_prev + b"."""
    try:
        what = traceback.format_exception_only(type(exc), exc)
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        what = [f"{type(exc).__name__}: <unprintable message>"]
    if isinstance(exc, SyntaxError):     # format_exception_only: file, line, caret, then the error
        what = what[-1:]
    what = " ".join(" ".join(what).split()) or type(exc).__name__
    if len(what) > MAX_HEADLINE_CHARS:
        what = what[: MAX_HEADLINE_CHARS - 1] + "…"
    if isinstance(exc, SyntaxError) and (exc.filename or "").startswith(CELL_PREFIX):
        filename, lineno = exc.filename, exc.lineno
        line = (exc.text or "").strip() or _source_line(sources, filename, lineno)
    else:
        frames = _student_frames(exc, sources)
        if not frames:
            return what
        filename, lineno, line = frames[-1].filename, frames[-1].lineno, frames[-1].line
    try:
        where = f"cell {int(filename[len(CELL_PREFIX):].rstrip('>')) + 1}"
    except ValueError:
        where = "a cell"
    where += f", line {lineno}" if lineno else ""
    line = " ".join((line or "").split())
    if len(line) > 200:
        line = line[:199] + "…"
    return f"{what} — in {where}" + (f": {line}" if line else "")


def new_namespace() -> dict:
    """A fresh module namespace for the cells, like a notebook's (`__name__ == "__main__"`)."""
    return {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}


def run_cell(ns: dict, index: int, source: str, sources: dict | None = None) -> dict | None:
    """Run one cell in `ns`; None if it succeeded, else {"cell", "kind": "error", "message"}: the
    message's first line is error_headline's, the student's traceback follows it.
    sources  {cell index: source} of the session's cells so far; this cell is added to it"""
    if sources is not None:
        sources[index] = source
    try:
        code = compile(source, f"{CELL_PREFIX}{index}>", "exec")
        exec(code, ns)
    except BaseException as exc:  # noqa: BLE001 - a notebook records every cell error and goes on
        known = sources if sources is not None else {index: source}
        return {"cell": index, "kind": "error",
                "message": f"{error_headline(exc, known)}\n{student_traceback(exc, known)}"}
    return None


def error_info(exc: BaseException, sources: dict | None = None) -> dict:
    return {"type": type(exc).__name__, "message": _safe_str(exc),
            "traceback": student_traceback(exc, sources)}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:10000]
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        return f"<{type(exc).__name__} with an unprintable message>"


