"""Build submissions from the release notebook: example submissions, test corpora, benchmarks.

A made submission is exactly what a student hands in: the release notebook (nbgrader metadata,
checksums, locked cells, visible tests as released) with its answer cells filled in. The filling
is the instructor's code from the source notebook's solution regions, then any function named in
`overrides` replaced by the given source, so a corpus entry differs from a correct submission
only where its author meant it to.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from . import cells

if TYPE_CHECKING:
    from .course import Course


def _is_answer_cell(cell) -> bool:
    """A student's code answer cell: nbgrader solution, not autograded (grade false)."""
    return cell.get("cell_type") == "code" and cells.classify(cell) is cells.Kind.ANSWER


def _defined_functions(source: str, where: str) -> list[ast.FunctionDef]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValueError(f"{where}: answer cell is not valid Python ({exc})") from None
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)]


def solution_functions(course: "Course") -> dict[str, str]:
    """Function name -> source of the instructor's `def` (solution markers removed), in notebook
    order, from the answer cells of the source notebook."""
    import nbformat

    path = course.source_notebook
    nb = nbformat.read(str(path), as_version=4)
    functions: dict[str, str] = {}
    for index, cell in enumerate(nb.cells):
        if not _is_answer_cell(cell):
            continue
        source = cells.without_solution_markers(cell.source)
        for node in _defined_functions(source, f"{path} cell {index}"):
            if node.name in functions:
                raise ValueError(f"{path}: function {node.name!r} is defined in two answer cells")
            functions[node.name] = ast.get_source_segment(source, node) + "\n"
    if not functions:
        raise ValueError(f"{path}: no answer cells with a function definition found")
    return functions


def make_submission(course: "Course", overrides: dict[str, str] | None = None):
    """The release notebook with every answer cell holding the instructor's code, then each
    function named in `overrides` replaced by the given source (a whole cell: the `def`, plus any
    helpers it needs). Returns an nbformat NotebookNode; raises ValueError for an override that
    names no answer cell's function."""
    import nbformat

    overrides = dict(overrides or {})
    solutions = solution_functions(course)
    path = course.release_notebook
    nb = nbformat.read(str(path), as_version=4)
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        if not _is_answer_cell(cell):
            continue
        names = [f.name for f in _defined_functions(cell.source, f"{path} cell {index}")]
        missing = [n for n in names if n not in solutions]
        if missing:
            raise ValueError(f"{path} cell {index}: {missing} are not in the source notebook's solutions; "
                             "regenerate the release (`initkit release`)")
        seen.update(names)
        cell.source = "\n\n\n".join(overrides.get(n, solutions[n]).strip("\n") for n in names)
    unknown = sorted(set(overrides) - seen)
    if unknown:
        raise ValueError(f"overrides {unknown}: no answer cell of {path} defines these functions "
                         f"(answer functions: {sorted(seen)})")
    return nb
