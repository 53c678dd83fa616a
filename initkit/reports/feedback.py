"""The student's feedback page: a self-contained HTML file per submission, in nbgrader's layout
(feedback/<student>/<assignment>/<notebook>.html)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Mapping

from .tables import num as _num


_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--part:#9a6700;--bg:#fff;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}
body{margin:0;padding:1rem;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
     color:var(--fg);background:var(--bg);max-width:52rem;margin-inline:auto}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
.score{font-size:2rem;font-weight:700}.mute{color:var(--mute)}
.error{border-left:4px solid var(--bad);padding:.5rem .8rem;background:#fff5f5}
table{border-collapse:collapse;width:100%}
td,th{padding:.35rem .4rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.pts{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.bar{height:.4rem;background:var(--line);border-radius:.2rem;overflow:hidden;min-width:3rem}
.bar span{display:block;height:100%;background:var(--ok)}
tr.partial .bar span{background:var(--part)}tr.zero .bar span{background:var(--bad)}
.test{border:1px solid var(--line);border-radius:.4rem;padding:.5rem .7rem;margin:.5rem 0}
.test b{overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.6rem;border-radius:.3rem;
    font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:.3rem 0;overflow-x:auto}
.outcome{font-size:.8rem;font-weight:600;text-transform:uppercase;color:var(--bad)}
@media (max-width:30rem){body{padding:.6rem;font-size:15px}td,th{padding:.3rem .2rem}.score{font-size:1.6rem}}
"""


def feedback_html(result: dict, code_cells: list[tuple[int, str]], assignment: str,
                  criteria: Mapping[str, float]) -> str:
    """A self-contained page (no external assets) a student can read on a phone."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(assignment)}: feedback for {e(result['student'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(assignment)}</h1>",
        f'<p class="mute">Feedback for <b>{e(result["student"])}</b>, notebook '
        f'{e(Path(result.get("notebook") or "").name)}</p>',
        f'<p class="score">{_num(result["score"])} / {_num(result["max_score"])}</p>',
    ]
    if result["status"] == "error":
        parts.append('<p class="error">Your notebook could not be graded: '
                     f'{e(result.get("error") or "unknown error")}</p>')

    parts.append("<h2>Criteria</h2><table><tr><th>criterion</th><th></th><th>points</th></tr>")
    for name in criteria:
        c = result["criteria"][name]
        frac = c["score"] / c["max_score"] if c["max_score"] else 0.0
        cls = "full" if frac >= 1 - 1e-9 else ("zero" if frac <= 1e-9 else "partial")
        parts.append(f'<tr class="{cls}"><td>{e(name)}</td><td><div class="bar">'
                     f'<span style="width:{100 * frac:.0f}%"></span></div></td>'
                     f'<td class="pts">{_num(c["score"])} / {_num(c["max_score"])}</td></tr>')
    parts.append("</table>")

    failed = [t for t in result.get("tests", []) if t.get("outcome") != "passed"]
    if failed:
        parts.append("<h2>What to fix</h2>")
        for t in failed:
            parts.append(f'<div class="test"><span class="outcome">{e(str(t.get("outcome")))}</span> '
                         f'<b>{e(str(t.get("criterion")))}</b> '
                         f'<span class="mute">({_num(t.get("score", 0))} / {_num(t.get("max_score", 0))})'
                         f'</span><pre>{e(str(t.get("message") or "no message"))}</pre></div>')
    elif result["status"] == "graded":
        parts.append("<h2>What to fix</h2><p>Nothing: every hidden test passed.</p>")

    cell_errors = result.get("cell_errors") or []
    if cell_errors:
        parts.append("<h2>Cells that failed when your notebook was run</h2>")
        for ce in cell_errors:
            parts.append(f'<div class="test"><span class="outcome">{e(str(ce.get("kind")))}</span> '
                         f'cell {e(str(ce.get("cell")))}<pre>{e(str(ce.get("message") or ""))}</pre></div>')

    if code_cells:
        parts.append("<h2>Your code</h2>")
        for index, source in code_cells:
            parts.append(f'<p class="mute">cell {index}</p><pre>{e(source)}</pre>')
    if result.get("isolation") == "none" and result["status"] == "graded":
        parts.append('<p class="mute">Graded without sandbox isolation.</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def feedback_path(out_dir: Path, result: dict, assignment: str) -> Path:
    stem = Path(result.get("notebook") or assignment).stem or assignment
    return out_dir / "feedback" / result["student"] / assignment / f"{stem}.html"


