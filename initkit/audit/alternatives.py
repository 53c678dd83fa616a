"""The course's audit folder: alternative correct solutions, probe inputs, accepted survivors.

    <course>/audit/<assignment>/alternatives/<style>.py   correct solutions written in another style: top-level
                                             imports, the answer functions they replace (by name)
                                             and any helper functions those use
    <course>/audit/<assignment>/probes.py                 probe_<function>(rng, fns) -> (args, kwargs): random
                                             inputs for the screening of mutants of <function>
    <course>/audit/<assignment>/accepted.toml             survivors judged correct, each with an id and a reason

An "origin" is one complete correct solution: the reference (the source notebook's solutions) or
the reference with one alternative's functions swapped in. Mutants are made of the functions an
origin defines itself, and graded as the whole origin with that one function mutated.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..course import CourseError

if TYPE_CHECKING:
    from ..course import Course

AUDIT_FOLDER = "audit"
REFERENCE = "reference"


class AuditSetupError(CourseError):
    """The course's audit folder cannot be used as given; str() names the file and the problem
    (a course error: `initkit audit` exits 2)."""


@dataclass(frozen=True)
class Origin:
    """A correct solution: `functions` (answer function -> its `def`, all answer functions),
    `own` (the ones this origin writes itself: mutated), `preamble` (imports and helpers the
    origin's own functions need, put before each of them in its answer cell)."""

    name: str
    functions: dict[str, str]
    own: tuple[str, ...]
    preamble: dict[str, str] = field(default_factory=dict)   # function -> text before its def
    description: str = ""

    def cell(self, function: str, source: str | None = None) -> str:
        """The answer cell for `function` (its def replaced by `source` if given)."""
        body = (source if source is not None else self.functions[function]).strip("\n") + "\n"
        pre = self.preamble.get(function, "")
        return (pre.rstrip("\n") + "\n\n\n" + body) if pre else body

    def overrides(self, function: str | None = None, source: str | None = None) -> dict[str, str]:
        """make_submission's overrides: every function the origin writes itself, with `function`
        replaced by `source`."""
        out = {f: self.cell(f) for f in self.own if f != function}
        if function is not None:
            out[function] = self.cell(function, source)
        return out


def audit_folder(course: "Course") -> Path:
    """The assignment's own audit material: audit/<assignment>/ (alternatives/, probes.py,
    accepted.toml)."""
    return course.root / AUDIT_FOLDER / course.assignment


def reference_origin(course: "Course") -> Origin:
    from ..solutions import solution_functions

    functions = solution_functions(course)
    return Origin(REFERENCE, functions, tuple(functions), description="the source notebook's solutions")


def load_alternative(path: Path, reference: Origin) -> Origin:
    """An alternative solution file, as an Origin over the reference."""
    text = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text, str(path))
    except SyntaxError as exc:
        raise AuditSetupError(f"{path}: not valid Python (line {exc.lineno}: {exc.msg})") from None
    answers = set(reference.functions)
    imports, helpers, own = [], {}, {}
    for node in tree.body:
        segment = ast.get_source_segment(text, node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(segment)
        elif isinstance(node, ast.FunctionDef):
            (own if node.name in answers else helpers)[node.name] = segment + "\n"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue                                     # the docstring
        else:
            raise AuditSetupError(f"{path} line {node.lineno}: only imports and function definitions "
                                  "are allowed in an alternative (each answer cell gets them)")
    if not own:
        raise AuditSetupError(f"{path}: defines none of the answer functions ({', '.join(sorted(answers))})")
    preamble = {}
    for name, source in own.items():
        used = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        parts = list(imports) + [src.strip("\n") for h, src in helpers.items() if h in used]
        preamble[name] = "\n".join(parts)
    doc = ast.get_docstring(tree) or ""
    functions = {**reference.functions, **own}
    return Origin(path.stem, functions, tuple(f for f in reference.functions if f in own), preamble,
                  " ".join(doc.split()))


def origins(course: "Course", folder: Path | None = None) -> list[Origin]:
    """The reference, then every alternative of the course's audit folder (sorted by name)."""
    folder = folder or audit_folder(course)
    ref = reference_origin(course)
    found = [ref]
    alt_dir = folder / "alternatives"
    if alt_dir.is_dir():
        for path in sorted(alt_dir.glob("*.py")):
            if not path.name.startswith("_"):
                found.append(load_alternative(path, ref))
    return found


def load_probes(course: "Course", folder: Path | None = None) -> dict:
    """{function: probe(rng, fns) -> (args, kwargs)} from audit/probes.py (trusted course code)."""
    folder = folder or audit_folder(course)
    path = folder / "probes.py"
    if not path.is_file():
        raise AuditSetupError(f"{path}: missing (probe_<function>(rng, fns) for every answer function: "
                              "the random inputs that screen out equivalent mutants)")
    ns: dict = {"__name__": "initkit_audit_probes", "__file__": str(path)}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
    return {k[len("probe_"):]: v for k, v in ns.items() if k.startswith("probe_") and callable(v)}


@dataclass(frozen=True)
class Accepted:
    id: str
    reason: str


def load_accepted(course: "Course", folder: Path | None = None) -> dict[str, Accepted]:
    """{mutant id: Accepted} from audit/accepted.toml ([[accepted]] tables with id and reason)."""
    folder = folder or audit_folder(course)
    path = folder / "accepted.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AuditSetupError(f"{path}: not valid TOML ({exc})") from None
    out = {}
    for i, entry in enumerate(data.get("accepted", [])):
        mid, reason = entry.get("id"), entry.get("reason")
        if not isinstance(mid, str) or not isinstance(reason, str) or not reason.strip():
            raise AuditSetupError(f"{path}: entry {i + 1} needs an id and a non-empty reason")
        out[mid] = Accepted(mid, " ".join(reason.split()))
    return out


def function_criteria(course: "Course", functions: list[str]) -> dict[str, list[str]]:
    """Answer function -> its own criterion, as a one-item list: the first autograded test cell
    after its answer cell in the source notebook (the course's layout: each answer, then the
    checks of it). Criteria that follow no answer directly (checks of several functions
    together) are no function's own: points lost there count as isolation findings."""
    import json

    from .. import cells

    nb = json.loads(course.source_notebook.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {f: [] for f in functions}
    current: list[str] = []
    for cell in nb.get("cells", []):
        kind = cells.classify(cell)
        if kind is cells.Kind.ANSWER and cell.get("cell_type") == "code":
            current = [f for f in cells.defined_functions(cells.source(cell)) if f in out]
        elif kind is cells.Kind.VISIBLE_TEST and cells.grade_id(cell) in course.criteria:
            for f in current:
                out[f].append(cells.grade_id(cell))
            current = []
    return out
