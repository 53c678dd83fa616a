"""The student's feedback page: a self-contained HTML file per submission, in nbgrader's layout
(feedback/<student>/<assignment>/<notebook>.html).

The markup is templates/feedback.html.j2 (autoescaped: student output, exception text, cell sources
and names are hostile and must arrive as text); this module only prepares plain data for it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..cells import defined_functions
from ..templates import render
from ..grading.result import distinct_failures
from .tables import num

if TYPE_CHECKING:
    from ..course import Course


# A path component: anything but separators, whitespace, quotes and the punctuation that usually
# ends a path in a message ("...ipynb: not valid JSON", "(at /x/y.py)").
_PART = r"""[^\s/\\"'`<>|:;,()\[\]{}]+"""
# The folders of an absolute path (Unix, ~ or Windows); the file's name after them stays. The
# look-behind keeps ratios and relative paths ("1/fan_in", "2/(a+b)", "a/b", "./x/y") and URLs.
_ABS_DIRS = re.compile(rf"(?<![\w.~/\\-])(?:~?/(?:{_PART}/)+|[A-Za-z]:\\(?:{_PART}\\)+)(?={_PART})")
# How the sandbox names a cell in a traceback: its 0-based index in the notebook.
_CELL_NAME = re.compile(r"<cell (\d+)>")


def strip_paths(text: str) -> str:
    """`text` with every absolute path cut to the file's name: the grader's folders are not the
    student's business. Paths with spaces are cut at the first space only."""
    return _ABS_DIRS.sub("", text)


def _student_text(text) -> str:
    """A message for the page: no grader paths, cells numbered from 1 like the rest of the page."""
    text = strip_paths(str(text))
    return _CELL_NAME.sub(lambda m: f"<cell {int(m.group(1)) + 1}>", text)


@functools.lru_cache(maxsize=4096)
def _functions(text: str) -> tuple[str, ...]:
    """cells.defined_functions, parsed once per distinct cell: a class's notebooks share most of
    their cells (the given code, and often the answers too)."""
    return tuple(defined_functions(text))


def _cell_label(index: int, sources: dict[int, str]) -> dict:
    """A cell by the functions it defines, else by its 1-based place in the notebook."""
    names = _functions(sources.get(index, ""))
    if names:
        return {"label": ", ".join(names), "where": f"cell {index + 1}"}
    return {"label": f"your cell {index + 1}", "where": None}


def cell_error_parts(message) -> tuple[str, str]:
    """A cell error's message for a person: (its first line, the error's type and message and the
    student's line that raised it, or a timeout's or crash's own words; the student's traceback
    after it, or ""), no grader paths, cells numbered from 1. The sandbox writes them in that
    order (sandbox/inside/execution.run_cell)."""
    summary, _, detail = _student_text(message or "").partition("\n")
    return summary, detail.strip("\n")


def _cell_error(ce: dict, sources: dict[int, str]) -> dict:
    index = ce.get("cell")
    known = isinstance(index, int) and not isinstance(index, bool)
    label = _cell_label(index, sources) if known else {"label": "a cell", "where": None}
    summary, detail = cell_error_parts(ce.get("message"))
    return label | {"kind": str(ce.get("kind")), "message": _student_text(ce.get("message") or ""),
                    "summary": summary, "detail": detail}


def _failures(tests: list[dict]) -> list[dict]:
    """Identical (outcome, message) pairs once, with how often, in order of first appearance."""
    out = []
    for outcome, message, count in distinct_failures(tests, _student_text):
        summary, _, detail = message.partition("\n")   # a traceback goes below its first line
        out.append({"outcome": outcome, "count": count, "summary": summary, "detail": detail})
    return out


def _block(name: str, title: str, score: float, max_score: float, tests: list[dict]) -> dict:
    frac = min(max(score / max_score, 0.0), 1.0) if max_score else 0.0
    passed = sum(t.get("outcome") == "passed" for t in tests)
    return {
        "name": name, "title": title, "score": num(score), "max_score": num(max_score),
        "id": name if title != name else None,      # the grade_id, in small print under a title
        "percent": round(100 * frac),
        "state": "full" if frac >= 1 - 1e-9 else ("zero" if frac <= 1e-9 else "partial"),
        "passed": passed, "checks": len(tests),
        "failures": _failures([t for t in tests if t.get("outcome") != "passed"]),
    }


def _criteria(result: dict, course: "Course") -> list[dict]:
    tests = result.get("tests") or []
    blocks = []
    for name, points in course.criteria.items():
        c = result["criteria"].get(name, {"score": 0.0, "max_score": points})
        own = [t for t in tests if t.get("criterion") == name]
        blocks.append(_block(name, course.title(name), c["score"], c["max_score"], own))
    # Tests of a criterion the course does not list: shown rather than lost.
    stray = [t for t in tests if t.get("criterion") not in course.criteria]
    if stray:
        blocks.append(_block("other checks", "Other checks", 0.0, 0.0, stray)
                      | {"state": "other", "id": None})
    return blocks


def _points(x: float) -> str:
    return f"{num(x)} point{'' if num(x) == '1' else 's'}"


def page_data(result: dict, code_cells: list[tuple[int, str]], course: "Course") -> dict:
    """Everything the template shows, as plain strings, numbers, lists and dicts."""
    sources = dict(code_cells)
    graded = result["status"] == "graded"
    blocks = _criteria(result, course)
    cell_errors = [_cell_error(ce, sources) for ce in result.get("cell_errors") or []]
    code = [_cell_label(i, sources) | {"source": src.rstrip("\n")} for i, src in code_cells]
    return {
        "assignment": course.heading or course.assignment,
        "student": str(result["student"]),
        "notebook": Path(result.get("notebook") or "").name,
        "score": num(result["score"]),
        "max_score": num(course.max_score),
        "manual_points": _points(course.manual_points) if course.manual_points else None,
        "error": _student_text(result.get("error") or "unknown error") if not graded else None,
        "notes": [_student_text(str(n)) for n in result.get("notes") or []],
        "all_passed": graded and bool(result.get("tests")) and not any(b["failures"] for b in blocks),
        "criteria": blocks,
        "cell_errors": cell_errors,
        "code_cells": code,
        "no_isolation": graded and result.get("isolation") == "none",
    }


def feedback_html(result: dict, code_cells: list[tuple[int, str]], course: "Course",
                  manual: dict | None = None) -> str:
    """A self-contained page (inline CSS, no external assets) a student can read on a phone.

    code_cells  (index in the notebook, source) of the student's own code cells
    manual      what was graded by hand (reports.manual.manual_grades' entry for the student):
                the written answers' scores and comments and the total; None: not yet
    """
    data = page_data(result, code_cells, course)
    data["manual"] = _manual(manual, course) if manual else None
    return render("feedback.html.j2", **data)


def _manual(manual: dict, course: "Course") -> dict:
    answers = [{"name": str(a["name"]), "title": course.title(str(a["name"])),
                "id": str(a["name"]) if course.title(str(a["name"])) != str(a["name"]) else None,
                "comment": _student_text(str(a.get("comment") or "")),
                "score": "not graded yet" if a["score"] is None else num(a["score"]),
                "max_score": num(a["max_score"])} for a in manual.get("answers") or []]
    return {"answers": answers, "total": num(manual["total"]), "max_total": num(manual["max_total"]),
            "late_penalty": num(manual["late_penalty"]) if manual.get("late_penalty") else None,
            "complete": all(a["score"] is not None for a in manual.get("answers") or [])}


def feedback_path(out_dir: Path, result: dict, assignment: str) -> Path:
    stem = Path(result.get("notebook") or assignment).stem or assignment
    return out_dir / "feedback" / result["student"] / assignment / f"{stem}.html"
