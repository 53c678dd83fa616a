"""The trusted reference: the instructor's functions, taken from the source notebook.

One source of truth for the right answers: the hidden tests compare students against the code in
the source notebook's solution regions (and its given, locked code such as `sigmoid`), executed
here in the grader's own process. This is trusted instructor code, never a submission.

Which cells: code cells that define a function at top level, plus cells made only of imports.
Experiment-tagged cells, nbgrader test cells, markdown and everything else are skipped, so the
notebook's training runs and plots never execute in the grader.

The cells tagged `diagnosis` (the messages the visible checks and the hidden tests share) are a
namespace of their own, `diagnosis(course)`: after the notebook's imports, never mixed with the
right answers.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from . import cells

if TYPE_CHECKING:
    from .course import Course

# The cells the reference may run: never visible tests, experiments or text.
_CODE = {cells.Kind.ANSWER, cells.Kind.GIVEN, cells.Kind.OTHER_CODE, cells.Kind.WRITTEN_ANSWER}


class ReferenceNotebookError(Exception):
    """The source notebook cannot serve as the reference (missing file, failing cell)."""


def reference_cells(path, diagnosis: bool = False) -> list[str]:
    """Sources of the cells of the notebook at `path` that the reference executes, in order
    (with `diagnosis`: the diagnosis cells, and the cells made only of imports)."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceNotebookError(f"{path}: the source notebook (the trusted reference) is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceNotebookError(f"{path}: the source notebook is not valid JSON ({exc})") from None
    chosen = []
    for cell in nb.get("cells", []):
        kind = cells.classify(cell) if cell.get("cell_type") == "code" else None
        # The cells whose definitions make this namespace; the notebook's import cells serve both.
        own = kind is cells.Kind.DIAGNOSIS if diagnosis else kind in _CODE
        if not own and kind not in _CODE:
            continue
        src = cells.strip_magics(cells.source(cell))
        if src is None:
            continue
        try:
            tree = ast.parse(src)
        except SyntaxError as exc:
            raise ReferenceNotebookError(f"{path}: a code cell of the source notebook does not parse "
                                         f"(line {exc.lineno}: {exc.msg})") from None
        defines = any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body)
        only_imports = bool(tree.body) and all(isinstance(node, (ast.Import, ast.ImportFrom))
                                               for node in tree.body)
        if only_imports or own and defines:
            chosen.append(src)
    return chosen


def load_reference(path, diagnosis: bool = False) -> SimpleNamespace:
    """Execute the reference cells of the notebook at `path` in a fresh namespace."""
    path = Path(path)
    ns: dict = {"__name__": "initkit_reference"}
    for i, src in enumerate(reference_cells(path, diagnosis)):
        try:
            exec(compile(src, f"<{path.name}: reference cell {i}>", "exec"), ns)
        except Exception as exc:
            raise ReferenceNotebookError(f"{path}: a reference cell of the source notebook failed: "
                                         f"{type(exc).__name__}: {exc}") from exc
    functions = {k: v for k, v in ns.items() if callable(v) and not k.startswith("__")}
    if not functions and not diagnosis:
        raise ReferenceNotebookError(f"{path}: the source notebook defines no functions "
                                     "(the hidden tests take the right answers from it)")
    return SimpleNamespace(**functions)


_CACHE: dict[tuple, SimpleNamespace] = {}


def reference(course: "Course", diagnosis: bool = False) -> SimpleNamespace:
    """The reference functions of the course's source notebook (cached per file version)."""
    path = course.source_notebook
    try:
        key = (str(path), path.stat().st_mtime_ns, diagnosis)
    except FileNotFoundError:
        raise ReferenceNotebookError(f"{path}: the source notebook (the trusted reference) is missing") from None
    if key not in _CACHE:
        for old in [k for k in _CACHE if k[0] == key[0] and k[2] == key[2]]:
            del _CACHE[old]
        _CACHE[key] = load_reference(path, diagnosis)
    return _CACHE[key]


def diagnosis(course: "Course") -> SimpleNamespace:
    """The functions of the source notebook's `diagnosis` cells (empty if it has none): the
    sentences the visible checks print, for the hidden tests to say the same."""
    return reference(course, diagnosis=True)
