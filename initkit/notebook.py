"""Read a submitted notebook: which code cells to run, and a clear error for a bad file.

This module only reads and filters; it never executes anything. The sandbox runs what it returns.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .criteria import EXPERIMENT_TAG

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class SubmissionError(Exception):
    """The submission file cannot be graded; str() names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class CodeCell:
    index: int      # position of the cell in the notebook, 0-based, counting every cell kind
    source: str


# A line magic or shell escape: optional indentation, then % or ! (but not != or %= style code,
# which cannot start a statement anyway).
_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def read_submission(path) -> list[CodeCell]:
    """The code cells of the notebook at `path` that grading should run, in notebook order.

    Raises SubmissionError for a missing, too large, empty, non-UTF-8, non-JSON or non-nbformat-4
    file. Skips experiment-tagged cells and nbgrader's autograded test cells; rewrites magics.
    """
    path = Path(path)
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(path, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise SubmissionError(path, "the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                    f"{exc.msg}); the notebook may be truncated or corrupted") from None
    except RecursionError:
        raise SubmissionError(path, "not a notebook (JSON nested too deeply)") from None
    nb = _validate(path, data)
    return [cell for cell in (_code_cell(path, i, c) for i, c in enumerate(nb["cells"]))
            if cell is not None]


def _read_bytes(path: Path) -> bytes:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise SubmissionError(path, "file not found") from None
    except OSError as exc:
        raise SubmissionError(path, f"cannot read the file ({exc.strerror})") from None
    if not path.is_file():
        raise SubmissionError(path, "not a regular file")
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(path, f"file too large ({size / 1e6:.1f} MB; the limit is "
                                    f"{MAX_NOTEBOOK_BYTES / 1e6:.0f} MB): clear the outputs and resubmit")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as exc:
        raise SubmissionError(path, f"cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_NOTEBOOK_BYTES:   # it grew while we looked
        raise SubmissionError(path, f"file too large (more than {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB)")
    return raw


def _validate(path: Path, data) -> dict:
    """The structural checks grading relies on (nbformat 4, a list of cells with sources)."""
    if not isinstance(data, dict) or "cells" not in data and "nbformat" not in data:
        raise SubmissionError(path, "not a Jupyter notebook (no 'cells' or 'nbformat' field)")
    major = data.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise SubmissionError(path, "not a Jupyter notebook (missing or invalid 'nbformat' version)")
    if major != 4:
        raise SubmissionError(path, f"unsupported notebook format version {major} (expected 4): "
                                    "open and save it with a current Jupyter")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise SubmissionError(path, "not a Jupyter notebook ('cells' is missing or not a list)")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise SubmissionError(path, f"cell {i} is malformed (no cell_type)")
        source = cell.get("source", "")
        if not (isinstance(source, str) or
                isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise SubmissionError(path, f"cell {i} is malformed (source is not text)")
        if not isinstance(cell.get("metadata", {}), dict):
            raise SubmissionError(path, f"cell {i} is malformed (metadata is not an object)")
    return data


def _code_cell(path: Path, index: int, cell: dict) -> CodeCell | None:
    if cell["cell_type"] != "code":
        return None
    meta = cell.get("metadata", {})
    tags = meta.get("tags", [])
    if isinstance(tags, list) and EXPERIMENT_TAG in tags:
        return None
    nbg = meta.get("nbgrader")
    if isinstance(nbg, dict) and nbg.get("grade") is True and not nbg.get("solution"):
        return None     # a visible test cell: the hidden tests do the grading
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    source = strip_magics(source)
    if source is None:
        return None
    return CodeCell(index, source)


def strip_magics(source: str) -> str | None:
    """IPython syntax made plain Python: None for a `%%` cell magic, `%x`/`!x` lines become `pass`.

    `pass` keeps the indentation so a magic inside a block leaves the block valid. Lines continued
    with a backslash after a magic are replaced too.
    """
    if source.lstrip().startswith("%%"):
        return None
    out, continuing = [], False
    for line in source.split("\n"):
        if continuing:
            out.append("")
            continuing = line.rstrip().endswith("\\")
            continue
        match = _MAGIC_LINE.match(line)
        if match:
            out.append(match.group(1) + "pass")
            continuing = line.rstrip().endswith("\\")
        else:
            out.append(line)
    return "\n".join(out)
