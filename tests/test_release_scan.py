"""The release gives students the checks, never the answers: for every assignment, no line of the
instructor's solutions appears in the release notebook, and none of the hidden tests' layer lists
or input values appears in its visible checks or diagnosis cell (the visible checks compute their
expectations from formulas, definitions and numerical slopes, on inputs of their own)."""

from __future__ import annotations

import ast
import json

import pytest

from fakes import REPO
from initkit import cells
from initkit.course import Course, assignments

ASSIGNMENTS = assignments(REPO)


def _code_cells(path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c.get("cell_type") == "code"]


def _solution_lines(course: Course) -> set[str]:
    """Lines of the solution regions that only the solutions have (not given code's idioms)."""
    given, solutions = set(), set()
    for cell in _code_cells(course.source_notebook):
        inside = False
        for line in cells.source(cell).splitlines():
            if cells.SOLUTION_MARKER_LINE.match(line + "\n"):
                inside = "BEGIN" in line
                continue
            text = " ".join(line.split())
            (solutions if inside else given).add(text)
    return {line for line in solutions - given
            if len(line) >= 24 and not line.startswith(("#", '"""', "return", "raise"))}


def _literals(tree: ast.AST) -> set[tuple]:
    """Lists of two or more numbers and longer or fractional tuples, with a number above 3: layer
    lists and input values (a pair of integers in parentheses is a shape, such as (4, 1))."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and len(node.elts) >= 2 or isinstance(node, ast.Tuple) and (
                len(node.elts) >= 3 or any(isinstance(getattr(e, "value", None), float) for e in node.elts)):
            try:
                value = ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                    and any(abs(v) > 3 for v in value):
                found.add(tuple(value))
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_line_reaches_the_release(assignment):
    course = Course.open(REPO, assignment)
    released = "\n".join(" ".join(line.split()) for c in _code_cells(course.release_notebook)
                         for line in cells.source(c).splitlines())
    leaked = sorted(line for line in _solution_lines(course) if line in released.splitlines())
    assert not leaked, f"{course.release_notebook}: solution lines in the release: {leaked}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_hidden_input_reaches_the_release(assignment):
    course = Course.open(REPO, assignment)
    hidden = set()
    for path in sorted((REPO / "autograder" / assignment).glob("*.py")):
        hidden |= _literals(ast.parse(path.read_text(encoding="utf-8")))
    released = set()
    for cell in _code_cells(course.release_notebook):
        if cells.classify(cell) not in (cells.Kind.VISIBLE_TEST, cells.Kind.DIAGNOSIS):
            continue
        try:
            released |= _literals(ast.parse(cells.strip_magics(cells.source(cell)) or ""))
        except SyntaxError:
            continue
    shared = sorted(hidden & released)
    assert not shared, f"{course.release_notebook}: the hidden tests' inputs in the release: {shared}"


def test_the_scan_finds_what_it_looks_for():
    """The scan is not empty-handed: the hidden tests do have inputs, the solutions lines."""
    course = Course.open(REPO, ASSIGNMENTS[0])
    assert len(_solution_lines(course)) >= 10
    hidden = set()
    for path in (REPO / "autograder" / ASSIGNMENTS[0]).glob("*.py"):
        hidden |= _literals(ast.parse(path.read_text(encoding="utf-8")))
    assert len(hidden) >= 5
