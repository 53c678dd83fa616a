"""Parse a submitted notebook, once, with every limit: which code cells to run, which are the
student's own, and a clear error for a bad file.

The one parser of submissions: size, UTF-8, JSON nesting depth and the nbformat 4 structure
grading relies on are all checked here, and every later stage (grading, feedback, the reports)
works from what it returns or from the result, never from the raw file. It only reads and
filters; it never executes anything. Which cells: cells.classify decides (answers, given code and
cells the student added run; visible tests, experiments, markdown do not). Reading the file
safely is handin.py's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import cells
from .cells import strip_magics
from .normalize import normalize

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64          # a notebook nests about 8 deep; deeper is not a notebook


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


# The code cells grading runs; the visible tests are not run (the hidden tests grade). The
# diagnosis cell runs as the given code it is: an answer may use a helper it defines, as it can in
# Jupyter and on nbgrader's route.
RUN = {cells.Kind.ANSWER, cells.Kind.WRITTEN_ANSWER, cells.Kind.GIVEN, cells.Kind.OTHER_CODE,
       cells.Kind.DIAGNOSIS}
# The code cells the feedback shows as the student's own.
STUDENT_CODE = {cells.Kind.ANSWER, cells.Kind.WRITTEN_ANSWER, cells.Kind.OTHER_CODE}


@dataclass(frozen=True)
class Submission:
    """A parsed notebook: what grading runs and what the feedback shows as the student's code."""

    cells: list[CodeCell]
    student_code: list[tuple[int, str]]     # (index, source) of the student's own code cells
    notes: list[str] = field(default_factory=list)   # what normalize changed, for the student


def parse(data: bytes, where, layout: tuple = ()) -> Submission:
    """Parse a notebook's bytes; `where` names it in errors. Raises SubmissionError for an empty,
    too large, non-UTF-8, non-JSON, too deeply nested or non-nbformat-4 notebook.

    layout  the assignment's cells (Course.layout): the notebook is first brought back to the
            release's structure (normalize.py, the rule `nbgrader autograde` applies too), and
            what that changed is in the Submission's notes
    """
    notebook_cells, notes = normalize(parse_cells(data, where), layout) if layout else (
        parse_cells(data, where), [])
    return Submission(
        cells=[c for c in (_code_cell(i, cell) for i, cell in enumerate(notebook_cells)) if c],
        student_code=[(i, cells.source(c)) for i, c in enumerate(notebook_cells)
                      if c["cell_type"] == "code" and cells.classify(c) in STUDENT_CODE],
        notes=notes)


def parse_cells(data: bytes, where) -> list[dict]:
    """The notebook's cells, every limit checked."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(where, f"file too large ({len(data) / 1e6:.1f} MB; the limit is "
                                     f"{MAX_NOTEBOOK_BYTES / 1e6:.0f} MB): clear the outputs and resubmit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(where, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise SubmissionError(where, "the file is empty")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(where, f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                     f"{exc.msg}); the notebook may be truncated or corrupted") from None
    except RecursionError:
        raise SubmissionError(where, f"not a notebook (JSON nested more than {MAX_JSON_DEPTH} deep)") from None
    except ValueError as exc:   # e.g. an integer of more than 4300 digits (int_max_str_digits)
        raise SubmissionError(where, f"not a notebook ({exc})") from None
    if _depth_exceeds(parsed, MAX_JSON_DEPTH):
        raise SubmissionError(where, f"not a notebook (JSON nested more than {MAX_JSON_DEPTH} deep)")
    return _validate(where, parsed)["cells"]


def _depth_exceeds(value, limit: int) -> bool:
    """True if `value` nests more than `limit` lists/objects deep (iterative: no recursion)."""
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            todo.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _validate(path, data) -> dict:
    """The structural checks grading relies on (nbformat 4, a list of cells with sources)."""
    if not isinstance(data, dict) or "cells" not in data and "nbformat" not in data:
        raise SubmissionError(path, "not a Jupyter notebook (no 'cells' or 'nbformat' field)")
    major = data.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool):
        raise SubmissionError(path, "not a Jupyter notebook (missing or invalid 'nbformat' version)")
    if major != 4:
        raise SubmissionError(path, f"unsupported notebook format version {major} (expected 4): "
                                    "open and save it with a current Jupyter")
    if not isinstance(data.get("metadata", {}), dict):
        raise SubmissionError(path, "not a Jupyter notebook (its 'metadata' is not an object)")
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
