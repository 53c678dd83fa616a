"""`initkit check`: is an assignment of the course ready to hand out and to grade? For
instructors after an edit, and for CI.

Each check reads the course as the instructor left it, never this term's values:
  totals      the autograded points (the test cells' `points`) and the points graded by hand,
              against what the notebook declares in its own metadata
              (`metadata.initkit.points = {"autograded": ..., "manual": ...}`: nbgrader's schema
              forbids extra keys in its own `nbgrader` entries) and what its text says
              ("N criteria", "(M points)")
  titles      every criterion and written answer has a readable title (its cell's metadata
              `initkit.title`), what feedback pages, report.html and Gradescope show; no two alike
  criteria    every autograded grade_id has hidden tests, every hidden test a grade_id
  release     release/<assignment>/ is what `initkit release` makes from the source now
  examples    examples/<assignment>/submitted/ is what its make_examples.py makes now
  audit       audit/<assignment>/alternatives/ exist, and each passes the visible tests (run with
              nbclient, experiments left out)
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import cells

if TYPE_CHECKING:
    from .course import Course

STEPS = ("totals", "titles", "criteria", "release", "examples", "audit")
_CRITERIA_TEXT = re.compile(r"\b(\d+)\s+criteria\b")
_POINTS_TEXT = re.compile(r"\b(\d+)\s+criteria\s*\((\d+(?:\.\d+)?)\s+points\)")


@dataclass
class CheckReport:
    assignment: str
    lines: list[str] = field(default_factory=list)      # what was checked, and what it found
    problems: list[str] = field(default_factory=list)   # each one line: what is wrong, where, what to do

    @property
    def ok(self) -> bool:
        return not self.problems


def check_assignment(course: "Course", *, steps: tuple[str, ...] = STEPS) -> CheckReport:
    """Run the checks named in `steps` (default: all) on the course's assignment."""
    report = CheckReport(course.assignment)
    for step in steps:
        {"totals": _totals, "titles": _titles, "criteria": _criteria, "release": _release, "examples": _examples,
         "audit": _audit}[step](course, report)
    return report


def _num(x: float) -> str:
    return f"{x:g}"


def declared_points(course: "Course") -> dict | None:
    """The notebook's own declaration, {"autograded": float, "manual": float}, or None."""
    nb = json.loads(course.source_notebook.read_text(encoding="utf-8"))
    points = ((nb.get("metadata") or {}).get("initkit") or {}).get("points")
    return points if isinstance(points, dict) else None


def _totals(course: "Course", report: CheckReport) -> None:
    auto, manual = course.max_score, course.manual_points
    report.lines.append(f"totals: {len(course.criteria)} autograded criteria, {_num(auto)} points; "
                        f"{_num(manual)} points graded by hand")
    where = course.source_notebook
    declared = declared_points(course)
    if declared is None:
        report.problems.append(f"{where}: the notebook does not declare its totals; add "
                               f'"initkit": {{"points": {{"autograded": {_num(auto)}, "manual": '
                               f"{_num(manual)}}}}} to its metadata (Edit > Notebook metadata)")
    else:
        for key, actual in (("autograded", auto), ("manual", manual)):
            wanted = declared.get(key)
            if not isinstance(wanted, (int, float)) or abs(float(wanted) - actual) > 1e-9:
                report.problems.append(
                    f"{where}: the {key} points add up to {_num(actual)}, the notebook declares "
                    f"{wanted!r} (metadata initkit.points.{key}): change the cells' points or the "
                    "declaration")
    nb = json.loads(where.read_text(encoding="utf-8"))
    for index, cell in enumerate(nb.get("cells") or []):
        if cell.get("cell_type") != "markdown":
            continue
        text = cells.source(cell)
        for match in _CRITERIA_TEXT.finditer(text):
            if int(match.group(1)) != len(course.criteria):
                report.problems.append(f"{where}: cell {index} says {match.group(0)!r}; the "
                                       f"notebook has {len(course.criteria)} autograded criteria")
        for match in _POINTS_TEXT.finditer(text):
            if abs(float(match.group(2)) - auto) > 1e-9:
                report.problems.append(f"{where}: cell {index} says {match.group(0)!r}; the "
                                       f"autograded points add up to {_num(auto)}")


def _titles(course: "Course", report: CheckReport) -> None:
    from .course import graded_cells

    where = course.source_notebook
    found = graded_cells(where)
    missing = [name for name, title in found if not title]
    for name in missing:
        kind = "criterion" if name in course.criteria else "written answer"
        report.problems.append(
            f"{where}: the {kind} {name!r} has no title, so students read {name!r}; add "
            f'"initkit": {{"title": "..."}} to its cell\'s metadata, beside "nbgrader" '
            "(docs/new-assignment.md, step 1)")
    seen: dict[str, str] = {}
    for name, title in found:
        if title and title.casefold() in seen:
            report.problems.append(f"{where}: {seen[title.casefold()]!r} and {name!r} have the same "
                                   f"title {title!r}; give each its own")
        elif title:
            seen[title.casefold()] = name
    report.lines.append(f"titles: {len(found) - len(missing)} of {len(found)} criteria and "
                        "written answers have a title")


def _criteria(course: "Course", report: CheckReport) -> None:
    from .grading.collect import HiddenTestsError, load_tests

    try:
        tests = load_tests(course)
    except HiddenTestsError as exc:
        report.problems.append(" ".join(str(exc).split()))
        return
    counts = {name: sum(t.criterion == name for t in tests) for name in course.criteria}
    report.lines.append(f"criteria: {len(tests)} hidden tests in {course.hidden_tests}, every "
                        "criterion covered (" + ", ".join(f"{n} {k}" for n, k in counts.items()) + ")")


def _release(course: "Course", report: CheckReport) -> None:
    from .release import release_is_fresh

    fresh, diff = release_is_fresh(course.root, course.assignment)
    if fresh:
        report.lines.append(f"release: {course.release_notebook.parent} is fresh")
    else:
        first = next((line for line in diff.splitlines() if line.startswith(("+", "-", course.root.anchor))
                      and not line.startswith(("+++", "---"))), "")
        report.problems.append(f"{course.release_notebook.parent}: stale (first difference: "
                               f"{first.strip()[:100]!r}); run `initkit release --assignment "
                               f"{course.assignment}`")


def examples_script(course: "Course"):
    return course.examples.parent / "make_examples.py"


def _examples(course: "Course", report: CheckReport) -> None:
    script = examples_script(course)
    if not script.is_file():
        report.problems.append(f"{script}: no example submissions' script (docs/new-assignment.md)")
        return
    spec = importlib.util.spec_from_file_location(f"_initkit_examples_{course.assignment}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = module.stale(module.build())
    if stale:
        report.problems.append(f"{script.parent / 'submitted'}: {len(stale)} example file(s) stale "
                               f"(e.g. {stale[0]}); run python {script}")
    else:
        report.lines.append(f"examples: {script.parent / 'submitted'} is fresh")


def _audit(course: "Course", report: CheckReport) -> None:
    from .audit.alternatives import audit_folder, origins

    folder = audit_folder(course) / "alternatives"
    found = [o for o in origins(course) if o.name != "reference"] if folder.is_dir() else []
    if not found:
        report.problems.append(f"{folder}: no alternative correct solutions for the audit "
                               "(docs/audit.md)")
        return
    failing = {o.name: why for o in found if (why := _visible_failure(course, o.overrides()))}
    for name, why in failing.items():
        report.problems.append(f"{folder / (name + '.py')}: fails the visible tests ({why})")
    report.lines.append(f"audit: {len(found)} alternative solutions in {folder}, "
                        f"{len(found) - len(failing)} pass the visible tests")


def _visible_failure(course: "Course", overrides: dict[str, str]) -> str | None:
    """The first visible test cell (or cell before it) that fails for the release filled with
    `overrides`, as "<grade_id>: <error>"; None when every visible test passes."""
    from nbclient import NotebookClient

    from .solutions import make_submission

    nb = make_submission(course, overrides)
    nb.cells = [c for c in nb.cells if cells.classify(c) is not cells.Kind.EXPERIMENT]
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   extra_arguments=["--IPKernelApp.log_level=ERROR"],   # no transport warning
                   resources={"metadata": {"path": str(course.root)}}).execute()
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            return f"{cells.grade_id(cell) or 'a cell'}: {errors[0].get('ename')}: {errors[0].get('evalue', '')[:200]}"
    return None
