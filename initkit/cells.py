"""The one classifier of notebook cells, and nbgrader's markers, written once.

Every stage asks this module what a cell is: the submission reader (what to run), the reference
(the instructor's functions), the course (criteria and points), the feedback (the student's own
code) and the example builder (the answer cells to fill).

Works on plain JSON dicts and nbformat nodes alike, and never trusts their types: a submission's
metadata is whatever the student's file says.
"""

from __future__ import annotations

import ast
import enum
import re

# Cells tagged with this are heavy experiments (training runs, plots); grading skips them.
EXPERIMENT_TAG = "experiment"
# Given code that only the student runs, about their own notebook ("Before you submit"): grading
# and the reference skip it too.
STUDENT_CHECK_TAG = "student-check"
# Given code that turns an observation into a sentence about a mistake (pure functions): the
# visible checks call it in the student's kernel and the hidden tests get the same functions
# (initkit.reference.diagnosis), so both name a mistake alike. Grading runs it as given code
# (locked, restored when edited), never as the student's; the reference keeps it apart from the
# right answers.
DIAGNOSIS_TAG = "diagnosis"

# nbgrader's solution delimiters (the course's nbgrader_config.py keeps the defaults), on a line
# of their own.
SOLUTION_MARKER_LINE = re.compile(r"^[ \t]*#+[ \t]*(BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)

# A line magic or shell escape: optional indentation, then % or ! (not != or %= style code, which
# cannot start a statement anyway).
_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


class Kind(enum.Enum):
    ANSWER = "answer"                  # code the student writes (nbgrader solution, not graded)
    VISIBLE_TEST = "visible test"      # nbgrader autograded test cell: its grade_id is a criterion
    WRITTEN_ANSWER = "written answer"  # graded by hand (nbgrader solution and grade, or a task)
    EXPERIMENT = "experiment"          # tagged `experiment`: training runs and plots
    STUDENT_CHECK = "student check"    # tagged `student-check`: the student's own check, never graded
    DIAGNOSIS = "diagnosis"            # tagged `diagnosis`: given messages shared with the hidden tests
    GIVEN = "given"                    # locked code of the instructor's (nbgrader, no solution)
    OTHER_CODE = "other code"          # code without nbgrader metadata (e.g. a cell the student added)
    TEXT = "text"                      # markdown or raw, not graded


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def nbgrader_meta(cell) -> dict | None:
    meta = _dict(cell.get("metadata"))
    nbg = meta.get("nbgrader")
    return nbg if isinstance(nbg, dict) else None


def tags(cell) -> list:
    found = _dict(cell.get("metadata")).get("tags")
    return found if isinstance(found, list) else []


def classify(cell) -> Kind:
    """What `cell` is in an nbgrader assignment (see Kind)."""
    nbg = nbgrader_meta(cell)
    grade = bool(nbg and nbg.get("grade") is True)
    solution = bool(nbg and nbg.get("solution") is True)
    task = bool(nbg and nbg.get("task") is True)
    if cell.get("cell_type") != "code":
        return Kind.WRITTEN_ANSWER if (grade or task) and (solution or task) else Kind.TEXT
    if EXPERIMENT_TAG in tags(cell):
        return Kind.EXPERIMENT
    if STUDENT_CHECK_TAG in tags(cell):
        return Kind.STUDENT_CHECK
    if DIAGNOSIS_TAG in tags(cell):
        return Kind.DIAGNOSIS
    if grade and not solution:
        return Kind.VISIBLE_TEST
    if grade and solution:
        return Kind.WRITTEN_ANSWER     # an autograded answer cell: nbgrader grades it by hand
    if solution:
        return Kind.ANSWER
    if nbg is not None:
        return Kind.GIVEN
    return Kind.OTHER_CODE


def source(cell) -> str:
    """The cell's text (nbformat allows a string or a list of strings)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def grade_id(cell) -> str | None:
    nbg = nbgrader_meta(cell) or {}
    gid = nbg.get("grade_id")
    return gid if isinstance(gid, str) else None


def points(cell) -> float:
    nbg = nbgrader_meta(cell) or {}
    value = nbg.get("points", 0)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def title(cell) -> str | None:
    """The readable title the instructor gave the cell (a criterion or a written answer), in
    initkit's own cell metadata `metadata.initkit.title` (nbgrader's schema forbids extra keys in
    its `nbgrader` entry); None when it has none."""
    value = _dict(_dict(cell.get("metadata")).get("initkit")).get("title")
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def without_solution_markers(text: str) -> str:
    return SOLUTION_MARKER_LINE.sub("", text)


def strip_magics(text: str) -> str | None:
    """IPython syntax made plain Python: None for a `%%` cell magic, `%x`/`!x` lines become `pass`.

    `pass` keeps the indentation so a magic inside a block leaves the block valid. Lines continued
    with a backslash after a magic are replaced too.
    """
    if text.lstrip().startswith("%%"):
        return None
    out, continuing = [], False
    for line in text.split("\n"):
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


def defined_functions(text: str) -> list[str]:
    """Names of the functions a cell defines at top level ([] if it does not parse)."""
    try:
        tree = ast.parse(strip_magics(text) or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
