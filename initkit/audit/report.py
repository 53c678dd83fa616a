"""The audit's report: JSON (the data, for CI and scripts) and one HTML page for the instructor.

JSON top level (run.run_audit): mutation_score (killed / (mutants - accepted), 0 to 1), mutants
(graded, after screening), killed, survivors [{id, origin, function, operator, line, criterion,
diff, probe}], accepted [the same, plus reason], alternatives [{name, score, max_score, ...}],
false_fails (count) and false_fail_details [{alternative, criterion, test, message}], seconds;
also generated, screened_out, criteria {name: {points, mutants, killed, survivors, accepted,
kills}}, isolation [killed mutants that lose points on criteria other than their function's],
function_criteria, stale_accepted (accepted ids no mutant has any more), timing, workers.

The page is templates/audit.html.j2, autoescaped (diffs and messages arrive as text).
"""

from __future__ import annotations

import json
import os
from pathlib import Path



def write_json(report: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def render_html(report: dict) -> str:
    from ..templates import render

    return render("audit.html.j2", r=report, percent=percent)


def write_html(report: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def summary_lines(report: dict) -> list[str]:
    """A few lines for the terminal."""
    alts = report["alternatives"]
    full = sum(a["score"] >= a["max_score"] - 1e-9 for a in alts)
    lines = [
        f"mutation score {percent(report['mutation_score'])}: {report['killed']} of "
        f"{report['mutants'] - len(report['accepted'])} mutants killed "
        f"({report['generated']} generated, {report['screened_out']} screened out as equivalent, "
        f"{len(report['accepted'])} survivors accepted)",
        f"fairness: {full} of {len(alts)} correct solutions get full marks; "
        f"{report['false_fails']} false fail(s)",
    ]
    for f in report["false_fail_details"]:
        lines.append(f"  FALSE FAIL {f['alternative']} [{f['criterion']}] {f['test']}: {f['message']}")
    for s in report["survivors"]:
        lines.append(f"  SURVIVOR {s['id']} (criterion {s['criterion']}, line {s['line']})")
    if report["isolation"]:
        lines.append(f"isolation: {len(report['isolation'])} killed mutant(s) also lose points on "
                     "criteria other than their function's")
    if report["stale_accepted"]:
        lines.append(f"accepted.toml: {len(report['stale_accepted'])} id(s) match no survivor any "
                     "more: " + ", ".join(report["stale_accepted"]))
    lines.append(f"{report['seconds']:.1f} s ({report['mutants']} mutants graded, "
                 f"{report['graded_now']} now, {report['reused']} from the cache, "
                 f"{report['workers']} worker(s))")
    return lines
