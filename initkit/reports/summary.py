"""What a terminal shows: the table after a batch (`format_summary`) and one submission's report
(`format_result`, for `initkit grade-one`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..grading.result import timed_out
from .tables import num

if TYPE_CHECKING:
    from ..grading.batch import BatchSummary
    from .batch import ReportsOutcome


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _short(text: str, n: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def error_reason(error: str, student: str, submissions: str | os.PathLike | None,
                 assignment: str) -> str:
    """An error row's reason for the table, whole, with the path it starts with shortened: inside
    the student's assignment folder to the file's name (`init_symmetry.ipynb: is a symbolic
    link ...`), the folder itself dropped (`no notebook ...`), else relative to the submissions
    folder (`ann: is a symbolic link`)."""
    error = " ".join(str(error).split())
    if submissions is None:
        return error
    root = str(Path(submissions))
    folder = os.path.join(root, student, assignment)
    for prefix in (folder + os.sep, folder + ": ", root.rstrip(os.sep) + os.sep):
        if error.startswith(prefix) and len(error) > len(prefix):
            return error[len(prefix):]
    return error


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one; None (no wrapping) in a pipe or a log."""
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def _wrapped_table(rows: list[list[str]], right: set[int], width: int | None) -> list[str]:
    """_table, with the last column wrapped to `width` (continued under itself), never cut."""
    if width is None:
        return _table(rows, right)
    lead = [row[:-1] for row in rows]
    widths = [max(len(row[i]) for row in lead) for i in range(len(lead[0]))]
    indent = sum(widths) + 2 * len(widths)
    room = max(30, width - indent - 1)
    out = []
    for line, row in zip(_table([r + [""] for r in lead], right), rows):
        parts = textwrap.wrap(row[-1], room, break_long_words=False, break_on_hyphens=False) or [""]
        out.append((line.ljust(indent) + parts[0]).rstrip())
        out += [" " * indent + part for part in parts[1:]]
    return out


class Run(Protocol):
    """What format_summary reads: initkit.api.GradeRun."""

    summary: "BatchSummary"      # what grading produced
    reports: "ReportsOutcome"    # what the reports wrote, and the class's rows as they show them
    elapsed: float


def format_summary(run: Run, max_rows: int = 40, width: int | None = -1) -> str:
    """The table printed after a batch: counts, mean/median, most failed criteria, a regrade's
    changes, files. The rows are the tables' (grades.csv): a student whose reports failed is an
    error row with that reason.

    Each row's reason is shown whole: an error row's is the error (its path shortened, see
    error_reason), a graded row's the criteria that lost points. width: wrap the reasons to
    this many columns (-1: the terminal's width when stdout is a terminal; None: never)."""
    summary, reports = run.summary, run.reports
    table = dataclasses.replace(summary, results=list(reports.rows))   # its counts, of the rows
    results = table.results
    lines = [f"{summary.assignment}: {len(results)} submissions "
             f"({summary.graded_now} graded now, {summary.reused} unchanged since the last run; "
             f"{summary.workers} worker(s), {run.elapsed:.1f} s)"]
    if len(results) <= max_rows:
        rows = [["student", "score", "status", "reason"]]
        for r in results:
            if r["status"] == "error":
                reason = error_reason(r.get("error") or "unknown error", r["student"],
                                      summary.submissions, summary.assignment)
            else:
                lost = [n for n, c in r["criteria"].items() if c["score"] < c["max_score"] - 1e-9]
                reason = ("lost: " + ", ".join(lost)) if lost else "full marks"
                if timed_out(r):
                    reason = "timeout; " + reason
            rows.append([r["student"], num(r["score"]), r["status"], reason])
        width = _terminal_width() if width == -1 else width
        lines += [""] + _wrapped_table(rows, {1}, width) + [""]
    mean_, median_ = table.mean_score, table.median_score
    # Timeouts are submissions counted above (graded or error) that hit a time limit.
    lines.append(f"graded {len(table.graded)}   errors {len(table.errors)}   "
                 f"timeouts {len(table.timeouts)}"
                 + (" (among the graded and errors above)" if table.timeouts else ""))
    if mean_ is not None:
        lines.append(f"score (graded, of {num(summary.course.max_score)}): mean {mean_:.1f}   median {median_:.1f}")
    if reports.regraded is not None:
        lines.append(f"regraded {len(reports.regraded)}: " + (", ".join(
            f"{s} {'new' if before is None else num(before)} -> {num(now)}"
            + ("" if before is None else f" ({'+' if now > before else ''}{num(now - before)})")
            for s, before, now in reports.changes) or "no score changed"))
    failed = table.most_failed()
    if failed:
        lines.append("most often failed: " + ", ".join(f"{n} ({k})" for n, k in failed))
    if reports.files:
        lines.append("")
        lines += _table([[what, where] for what, where in reports.files.items()])
    return "\n".join(lines)


def format_result(result: dict) -> str:
    """One submission's result as a readable report (initkit grade-one)."""
    lines = [f"{result['student']}: {num(result['score'])} / {num(result['max_score'])} "
             f"({result['status']}, isolation: {result.get('isolation')}, "
             f"{result.get('duration', 0):.1f} s)"]
    if result["status"] == "error":
        lines.append(f"error: {result.get('error')}")
    rows = [["criterion", "points"]] + [
        [n, f"{num(c['score'])} / {num(c['max_score'])}"] for n, c in result["criteria"].items()]
    lines += [""] + _table(rows, right={1})
    failed = [t for t in result.get("tests", []) if t.get("outcome") != "passed"]
    if failed:
        lines.append("")
        lines.append("failed tests:")
        for t in failed:
            lines.append(f"  [{t.get('outcome')}] {t.get('criterion')} / {t.get('name')}")
            for line in str(t.get("message") or "").splitlines() or [""]:
                lines.append(f"      {line}")
    for ce in result.get("cell_errors") or []:     # the first line: the error and the line raising it
        cell = ce.get("cell")
        where = f"cell {cell + 1}" if isinstance(cell, int) and not isinstance(cell, bool) else "a cell"
        first = str(ce.get("message") or "").partition("\n")[0]
        lines.append(f"{where} {ce.get('kind')}: {_short(first, 400)}")
    return "\n".join(lines)
