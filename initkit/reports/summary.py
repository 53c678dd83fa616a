"""What a terminal shows: the table after a batch (`format_summary`) and one submission's report
(`format_result`, for `initkit grade-one`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..grading.result import timed_out
from .tables import num

if TYPE_CHECKING:
    from ..grading.batch import BatchSummary


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _short(text: str, n: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_summary(summary: "BatchSummary", max_rows: int = 40) -> str:
    """The table printed after a batch: counts, mean/median, most failed criteria, files."""
    results = summary.results
    lines = [f"{summary.assignment}: {len(results)} submissions "
             f"({summary.graded_now} graded now, {summary.reused} unchanged since the last run; "
             f"{summary.workers} worker(s), {summary.elapsed:.1f} s)"]
    if len(results) <= max_rows:
        rows = [["student", "score", "status", "note"]]
        for r in results:
            if r["status"] == "error":
                note = r.get("error") or ""
            else:
                lost = [n for n, c in r["criteria"].items() if c["score"] < c["max_score"] - 1e-9]
                note = ("lost: " + ", ".join(lost)) if lost else "full marks"
                if timed_out(r):
                    note = "timeout; " + note
            rows.append([r["student"], num(r["score"]), r["status"], _short(note)])
        lines += [""] + _table(rows, right={1}) + [""]
    mean_, median_ = summary.mean_score, summary.median_score
    # Timeouts are submissions counted above (graded or error) that hit a time limit.
    lines.append(f"graded {len(summary.graded)}   errors {len(summary.errors)}   "
                 f"timeouts {len(summary.timeouts)}"
                 + (" (among the graded and errors above)" if summary.timeouts else ""))
    if mean_ is not None:
        lines.append(f"score (graded, of {num(summary.course.max_score)}): mean {mean_:.1f}   median {median_:.1f}")
    if summary.only is not None:
        lines.append(f"regraded {len(summary.only)}: " + (", ".join(
            f"{s} {'new' if before is None else num(before)} -> {num(now)}"
            + ("" if before is None else f" ({'+' if now > before else ''}{num(now - before)})")
            for s, before, now in summary.changes) or "no score changed"))
    failed = summary.most_failed()
    if failed:
        lines.append("most often failed: " + ", ".join(f"{n} ({k})" for n, k in failed))
    if summary.files:
        lines.append("")
        lines += _table([[what, where] for what, where in summary.files.items()])
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
    for ce in result.get("cell_errors") or []:
        lines.append(f"cell {ce.get('cell')} {ce.get('kind')}: {_short(ce.get('message') or '', 200)}")
    return "\n".join(lines)
