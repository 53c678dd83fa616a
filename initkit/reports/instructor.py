"""The instructor's report: report.html in the output folder, with PNG plots under report/,
showing how the class did (scores, each criterion's pass rate and most common failure, errors,
timeouts, and what changed since the last run).

The markup is templates/instructor.html.j2 (autoescaped: student names and messages are hostile
and must arrive as text); this module prepares plain data for it and draws the plots. Every number
a plot shows is in a table too. The results are read defensively: odd data never stops a report.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Iterable, Mapping

from ..templates import render
from ..files import atomic_write
from .tables import num

if TYPE_CHECKING:
    from ..course import Course

PLOTS = {"histogram": "score_histogram.png", "pass_rates": "criterion_pass_rates.png"}
MESSAGE_CHARS = 200   # a failure message: its first line, cut here
BINS = 10
EPS = 1e-6


def _number(x) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _one_line(text, n: int = MESSAGE_CHARS) -> str:
    line = str(text if text is not None else "").strip().split("\n", 1)[0].strip()
    return line if len(line) <= n else line[: n - 1].rstrip() + "…"


def _full_points(c) -> bool:
    if not isinstance(c, dict):
        return False
    score, top = _number(c.get("score")), _number(c.get("max_score"))
    return score is not None and top is not None and score >= top - 1e-9


def _timeout_parts(r: dict) -> list[str]:
    """What hit a time limit: criteria (with their count of tests), cells, or the whole
    submission (an error row whose grading timed out). The same rule as result.timed_out, which
    the terminal summary counts, so both show the same number."""
    if r.get("status") != "graded":
        return ["the whole submission (not graded)"] if "timed out" in str(r.get("error") or "") else []
    counts: dict[str, int] = {}
    for t in r.get("tests") or []:
        if isinstance(t, dict) and t.get("outcome") == "timeout":
            counts[str(t.get("criterion"))] = counts.get(str(t.get("criterion")), 0) + 1
    parts = [f"{name} ({k} test{'s' * (k != 1)})" for name, k in counts.items()]
    for ce in r.get("cell_errors") or []:
        if isinstance(ce, dict) and ce.get("kind") == "timeout":
            cell = ce.get("cell")
            ok = isinstance(cell, int) and not isinstance(cell, bool)
            parts.append(f"cell {cell + 1}" if ok else "a cell")
    return parts


@dataclass(frozen=True, slots=True)
class ClassRow:
    """What report.html shows of one student's result, and nothing more: a batch keeps one of
    these per student (the result itself, with the student's code and every test, is let go as
    soon as their own files are written). `class_row` makes one."""

    student: str
    status: str
    score: float | None                    # None: not a finite number
    error: str | None                      # why a row that is not graded is not, on one line
    lost: tuple[str, ...] = ()             # graded: the course's criteria without full points
    ran: tuple[str, ...] = ()              # graded: the course's criteria that had a test
    failures: tuple[tuple[str, str], ...] = ()   # graded: (criterion, first line) of each test
    #                                              that did not pass, in the result's order
    timeouts: tuple[str, ...] = ()         # what hit a time limit (_timeout_parts)


def class_row(r, criteria: Mapping[str, float]) -> ClassRow | None:
    """`r`'s ClassRow (None for what is not a result at all). Read defensively, as everything
    here: odd data never stops a report."""
    if not isinstance(r, dict):
        return None
    graded = r.get("status") == "graded"
    row = ClassRow(student=str(r.get("student")), status=str(r.get("status")),
                   score=_number(r.get("score")), timeouts=tuple(_timeout_parts(r)),
                   error=None if graded else _one_line(r.get("error") or "unknown error", 500))
    if not graded:
        return row
    names = {name: name for name in criteria}          # the course's own strings, shared
    found = r.get("criteria") if isinstance(r.get("criteria"), dict) else {}
    tests = r.get("tests") if isinstance(r.get("tests"), (list, tuple)) else []
    tests = [t for t in tests if isinstance(t, dict) and isinstance(t.get("criterion"), str)
             and t.get("criterion") in names]
    failures = tuple((names[t["criterion"]], _one_line(t.get("message"))
                      or f"({t.get('outcome')}, no message)")
                     for t in tests if t.get("outcome") != "passed")
    had = {t["criterion"] for t in tests}
    return ClassRow(row.student, row.status, row.score, None, timeouts=row.timeouts,
                    lost=tuple(n for n in names if not _full_points(found.get(n))),
                    ran=tuple(n for n in names if n in had), failures=failures)


def class_rows(results: Iterable, criteria: Mapping[str, float]) -> list[ClassRow]:
    """The ClassRow of each result, in order (what is not a result skipped)."""
    return [row for row in (class_row(r, criteria) for r in results) if row is not None]


def _histogram(scores: list[float], top: float) -> list[dict]:
    width = top / BINS
    counts = [0] * BINS
    for s in scores:
        counts[min(max(int(s / width), 0), BINS - 1)] += 1
    return [{"low": num(i * width), "high": num((i + 1) * width), "count": k}
            for i, k in enumerate(counts)]


def _criteria(graded: list[ClassRow], course: "Course") -> list[dict]:
    """Per criterion, in the course's order: pass rate and the most common failure's first line."""
    rows = []
    for name, points in course.criteria.items():
        full = sum(name not in r.lost for r in graded)
        ran = any(name in r.ran for r in graded)
        groups: dict[str, list] = {}     # first line -> [tests, students]
        for r in graded:
            seen = set()
            for criterion, line in r.failures:
                if criterion != name:
                    continue
                g = groups.setdefault(line, [0, 0])
                g[0] += 1
                if line not in seen:
                    seen.add(line)
                    g[1] += 1
        # Most students first, then most tests; ties: the first seen (dicts keep order).
        top = max(groups.items(), key=lambda kv: (kv[1][1], kv[1][0]), default=None)
        rows.append({
            "name": str(name), "title": course.title(name),
            "id": str(name) if course.title(name) != name else None,   # small print by the title
            "points": num(points), "full": full, "graded": len(graded),
            "rate": 100 * full / len(graded) if graded else None,
            "percent": f"{100 * full / len(graded):.0f}%" if graded else "–",
            "ran": ran, "distinct": len(groups),
            "failure": top and {"message": top[0], "tests": top[1][0], "students": top[1][1]},
        })
    return rows


def _changes(rows: list[ClassRow], previous: list | None) -> dict | None:
    """Who changed since the last run: score up or down (and status), new students, gone."""
    if previous is None:
        return None
    before = {str(p["student"]): p for p in previous if isinstance(p, dict) and "student" in p}
    now = {r.student: r for r in rows}
    changed, new = [], []
    for student, r in now.items():
        p = before.get(student)
        if p is None:
            new.append({"student": student, "score": num(r.score or 0), "status": r.status})
            continue
        old, cur = _number(p.get("score")) or 0.0, r.score or 0.0
        status = (str(p.get("status")), r.status)
        if abs(cur - old) > EPS or status[0] != status[1]:
            delta = cur - old
            changed.append({"student": student, "before": num(old), "after": num(cur),
                            "delta": ("+" if delta > 0 else "") + num(delta) if abs(delta) > EPS else "0",
                            "direction": "up" if delta > EPS else "down" if delta < -EPS else "same",
                            "status": f"{status[0]} → {status[1]}" if status[0] != status[1] else ""})
    gone = [{"student": s, "score": num(_number(p.get("score")) or 0), "status": str(p.get("status"))}
            for s, p in sorted(before.items()) if s not in now]
    return {"changed": changed, "new": new, "gone": gone,
            "up": sum(c["direction"] == "up" for c in changed),
            "down": sum(c["direction"] == "down" for c in changed),
            "unchanged": len(now) - len(changed) - len(new)}


def report_data(course: "Course", rows: list[ClassRow], previous: list | None) -> dict:
    """Everything the template shows, as plain strings, numbers, lists and dicts.

    rows      the class, a ClassRow per student (class_rows), in the tables' order
    previous  the last run's grades.json rows (only "student", "score" and "status" are read)
    """
    graded = [r for r in rows if r.status == "graded"]
    scores = [r.score for r in graded if r.score is not None]
    top = _number(course.max_score) or 0.0
    timeouts = [{"student": r.student, "score": num(r.score or 0), "what": ", ".join(r.timeouts)}
                for r in rows if r.timeouts]
    errors = [{"student": r.student, "reason": r.error} for r in rows if r.status != "graded"]
    return {
        "assignment": course.heading or str(course.assignment),
        "submissions": len(rows), "graded": len(graded),
        "errors": errors, "timeouts": timeouts,
        "mean": f"{mean(scores):.1f}" if scores else None,
        "median": f"{median(scores):.1f}" if scores else None,
        "mean_value": mean(scores) if scores else None,
        "median_value": median(scores) if scores else None,
        "max_score": num(top), "max_value": top,
        "manual_points": num(course.manual_points) if _number(course.manual_points) else None,
        "scores": scores,
        "bins": _histogram(scores, top) if scores and top > 0 else [],
        "full_marks": sum(s >= top - 1e-9 for s in scores) if top > 0 else 0,
        "criteria": _criteria(graded, course),
        "changes": _changes(rows, previous),
        "plots": {}, "plot_errors": [],
    }


# --------------------------------------------------------------------------- plots

def _label(text: str, n: int = 60) -> str:
    """Text for a plot: cut, and a "$" shown as itself (matplotlib reads $...$ as math)."""
    text = text if len(text) <= n else text[: n - 1] + "…"
    return text.replace("$", r"\$")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # No "Software" (the matplotlib version) and no date: same data, same bytes.
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _plot_histogram(data: dict) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    top, width = data["max_value"], data["max_value"] / BINS
    edges = [i * width for i in range(BINS)]
    ax.bar(edges, [b["count"] for b in data["bins"]], width=width, align="edge",
           color="#4c78a8", edgecolor="white", linewidth=1)
    ax.axvline(data["mean_value"], color="#cf222e", linewidth=2, label=f"mean {data['mean']}")
    ax.axvline(data["median_value"], color="#1f2328", linewidth=2, linestyle="--",
               label=f"median {data['median']}")
    ax.set_xlim(0, top)
    ax.set_xticks([i * width for i in range(BINS + 1)], [num(i * width) for i in range(BINS + 1)])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"score (of {data['max_score']})")
    ax.set_ylabel("graded submissions")
    ax.set_title(f"{_label(data['assignment'])}: scores of {data['graded']} graded submissions")
    ax.legend(loc="best", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _plot_pass_rates(data: dict) -> bytes:
    from matplotlib.figure import Figure

    rows = data["criteria"]
    fig = Figure(figsize=(8, 1.2 + 0.38 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    rates = [c["rate"] for c in rows]
    colors = ["#1a7f37" if r >= 80 else "#bf8700" if r >= 50 else "#cf222e" for r in rates]
    labels = [_label(c["title"], 40) for c in rows]
    ys = range(len(rows))
    ax.barh(ys, rates, color=colors, height=0.7)
    for y, c in zip(ys, rows):
        ax.text(min(c["rate"], 100) + 1, y, f"{c['percent']} ({c['full']}/{c['graded']})",
                va="center", fontsize=9)
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()            # the course's order, top to bottom
    ax.set_xlim(0, 118)
    ax.set_xticks(range(0, 101, 20), [f"{p}%" for p in range(0, 101, 20)])
    ax.set_xlabel("graded submissions with full points on the criterion")
    ax.set_title("Pass rate per criterion")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _write_plots(data: dict, folder: Path) -> None:
    import matplotlib.style

    wanted = {"histogram": _plot_histogram if data["bins"] else None,
              "pass_rates": _plot_pass_rates if data["graded"] and data["criteria"] else None}
    # matplotlib's defaults, not the user's matplotlibrc; Figure objects, not pyplot: no global
    # backend switch (a notebook calling the API keeps its own), nothing left open to close.
    with matplotlib.style.context("default"), warnings.catch_warnings():
        warnings.simplefilter("ignore")     # "Glyph missing from font" for a criterion's name
        for key, draw in wanted.items():
            path = folder / PLOTS[key]
            if draw is None:
                path.unlink(missing_ok=True)           # a stale plot of an earlier run
                continue
            try:
                png = draw(data)
            except Exception as exc:  # noqa: BLE001 - the tables below say the same; never stop
                path.unlink(missing_ok=True)
                data["plot_errors"].append(f"{key}: {type(exc).__name__}: {_one_line(exc)}")
                continue
            atomic_write(path, png)
            data["plots"][key] = f"{folder.name}/{PLOTS[key]}"


# --------------------------------------------------------------------------- the page

def instructor_html(data: dict) -> str:
    return render("instructor.html.j2", **data)


def write_instructor_report(course: "Course", out_dir, rows: list[ClassRow],
                            previous: list[dict] | None) -> Path:
    """Write out_dir/report.html and its plots under out_dir/report/; returns report.html's path.

    rows      the class, a ClassRow per student (class_rows), in the tables' order
    previous  the "submissions" of the last run's grades.json (None: this is the first run)
    """
    out = Path(out_dir)
    data = report_data(course, rows, previous if isinstance(previous, list) else None)
    _write_plots(data, out / "report")
    path = out / "report.html"
    atomic_write(path, instructor_html(data))
    return path
