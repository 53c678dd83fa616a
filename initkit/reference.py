"""The trusted reference: the instructor's functions, taken from the source notebook.

One source of truth for the right answers: the hidden tests compare students against the code in
the source notebook's solution regions (and its given, locked code such as `sigmoid`), executed
here in the grader's own process. This is trusted instructor code, never a submission.

Which cells: code cells that define a function at top level, plus cells made only of imports.
Experiment-tagged cells, nbgrader test cells, markdown and everything else are skipped, so the
notebook's training runs and plots never execute in the grader.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace

from .criteria import EXPERIMENT_TAG

# The function contract of issue 2: what the hidden tests need from the instructor's notebook.
CONTRACT = (
    "initialize_zeros", "initialize_constant", "initialize_random", "initialize_xavier",
    "initialize_he", "forward_propagation", "compute_cost", "backward_propagation",
    "update_parameters", "is_layer_symmetric",
)

_MAGIC_LINE = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)


class ReferenceNotebookError(Exception):
    """The source notebook cannot serve as the reference (missing file or function)."""


def _source_text(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _wanted(cell) -> bool:
    """A given or solution cell that defines functions (or only imports)."""
    if cell.get("cell_type") != "code":
        return False
    meta = cell.get("metadata", {})
    if EXPERIMENT_TAG in meta.get("tags", []):
        return False
    nbg = meta.get("nbgrader", {})
    if nbg.get("grade") and not nbg.get("solution"):
        return False   # an autograded test cell: the visible tests are not part of the reference
    return True


def reference_cells(path) -> list[str]:
    """Sources of the cells of the notebook at `path` that the reference executes, in order."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceNotebookError(f"{path}: the source notebook (the trusted reference) is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceNotebookError(f"{path}: the source notebook is not valid JSON ({exc})") from None
    chosen = []
    for cell in nb.get("cells", []):
        if not _wanted(cell):
            continue
        src = _MAGIC_LINE.sub(lambda m: m.group(1) + "pass", _source_text(cell))
        try:
            tree = ast.parse(src)
        except SyntaxError as exc:
            raise ReferenceNotebookError(f"{path}: a code cell of the source notebook does not parse "
                                 f"(line {exc.lineno}: {exc.msg})") from None
        defines = any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) for node in tree.body)
        only_imports = bool(tree.body) and all(isinstance(node, (ast.Import, ast.ImportFrom))
                                               for node in tree.body)
        if defines or only_imports:
            chosen.append(src)
    return chosen


def load_reference(path) -> SimpleNamespace:
    """Execute the reference cells of the notebook at `path` in a fresh namespace."""
    path = Path(path)
    ns: dict = {"__name__": "initkit_reference"}
    for i, src in enumerate(reference_cells(path)):
        try:
            exec(compile(src, f"<{path.name}: reference cell {i}>", "exec"), ns)
        except Exception as exc:
            raise ReferenceNotebookError(f"{path}: a reference cell of the source notebook failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
    missing = [name for name in CONTRACT if not callable(ns.get(name))]
    if missing:
        raise ReferenceNotebookError(f"{path}: the source notebook does not define {', '.join(missing)} "
                             "(the hidden tests take the right answers from it)")
    return SimpleNamespace(**{k: v for k, v in ns.items() if callable(v) and not k.startswith("__")})


_CACHE: dict[tuple[str, int], SimpleNamespace] = {}


def reference(path=None) -> SimpleNamespace:
    """The reference functions of the course's source notebook (cached per file version)."""
    if path is None:
        from .paths import source_notebook

        path = source_notebook()
    path = Path(path).resolve()
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise ReferenceNotebookError(f"{path}: the source notebook (the trusted reference) is missing") from None
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_reference(path)
    return _CACHE[key]
