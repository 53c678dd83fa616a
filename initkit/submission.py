"""Read a submitted notebook: which code cells to run, and a clear error for a bad file.

This module only reads and filters; it never executes anything. The sandbox runs what it returns.
Which cells: cells.classify decides (answers, given code and cells the student added run;
visible tests, experiments, markdown do not).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import cells
from .cells import strip_magics

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


# The code cells grading runs; the visible tests are not run (the hidden tests grade).
RUN = {cells.Kind.ANSWER, cells.Kind.WRITTEN_ANSWER, cells.Kind.GIVEN, cells.Kind.OTHER_CODE}
# The code cells the feedback shows as the student's own.
STUDENT_CODE = {cells.Kind.ANSWER, cells.Kind.WRITTEN_ANSWER, cells.Kind.OTHER_CODE}


def read_submission(path) -> list[CodeCell]:
    """The code cells of the notebook at `path` that grading should run, in notebook order.

    Raises SubmissionError for a missing, too large, empty, non-UTF-8, non-JSON or non-nbformat-4
    file. Skips experiment-tagged cells and nbgrader's autograded test cells; rewrites magics.
    """
    path = Path(path)
    return [cell for cell in (_code_cell(i, c) for i, c in enumerate(read_cells(path)))
            if cell is not None]


def student_code(path) -> list[tuple[int, str]]:
    """(index, source) of the code the student wrote: answer cells and cells they added, as the
    feedback shows them. Raises SubmissionError as read_submission does."""
    return [(i, cells.source(c)) for i, c in enumerate(read_cells(Path(path)))
            if c["cell_type"] == "code" and cells.classify(c) in STUDENT_CODE]


def read_cells(path: Path) -> list[dict]:
    """The notebook's cells, every limit checked (size, UTF-8, JSON depth, nbformat 4 structure)."""
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
    return _validate(path, data)["cells"]


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


def _code_cell(index: int, cell: dict) -> CodeCell | None:
    if cell["cell_type"] != "code" or cells.classify(cell) not in RUN:
        return None
    source = strip_magics(cells.source(cell))
    if source is None:
        return None
    return CodeCell(index, source)
