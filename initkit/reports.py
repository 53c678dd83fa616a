"""Everything a batch writes, read from the one result shape (see docs/architecture.md).

  grades.csv    one row per student, criteria columns in criteria.CRITERIA order
  grades.json   {"assignment", "max_score", "submissions": [result, ...]}
  feedback/     feedback/<student>/<assignment>/<notebook stem>.html (nbgrader's layout)
  gradebook     nbgrader's gradebook.db, through nbgrader's own Gradebook API

Every file is written atomically (temp file + os.replace). Plus the text a terminal shows:
`format_summary` for a batch, `format_result` for one submission.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .batch import atomic_write, json_default, timed_out
from .criteria import CRITERIA, MAX_SCORE
from .nbgrader_env import alembic_on_path, course_config

if TYPE_CHECKING:
    from .batch import BatchSummary

CSV_FIELDS = ["student", "score", "max_score", "status", *CRITERIA]


def _num(x: float) -> str:
    """Scores as short decimal strings: 10 -> "10", 3.3333333 -> "3.333"."""
    return f"{round(float(x), 3):g}"


# --------------------------------------------------------------------------- CSV / JSON

def grades_csv(results: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in results:
        writer.writerow([r["student"], _num(r["score"]), _num(r["max_score"]), r["status"],
                         *(_num(r["criteria"][name]["score"]) for name in CRITERIA)])
    return buf.getvalue()


def grades_json(results: list[dict], assignment: str) -> str:
    """One submission per line: json's indenting encoder is pure Python, 10x slower than its C
    one (1.6 s for 1,000 submissions)."""
    rows = ",\n".join(json.dumps(r, default=json_default) for r in results)
    head = json.dumps({"assignment": assignment, "max_score": MAX_SCORE})[:-1]
    return f'{head}, "submissions": [\n{rows}\n]}}\n'


# --------------------------------------------------------------------------- HTML feedback

def student_code_cells(path: str | os.PathLike | None) -> list[tuple[int, str]]:
    """(index, source) of the code the student wrote: answer cells and cells they added.

    Given code and the visible test cells are the instructor's (nbgrader metadata without
    `solution`), and experiment cells are not graded; none of them are shown. Unreadable files
    give no cells (the result's error already says why).
    """
    if path is None:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    from .criteria import EXPERIMENT_TAG

    out = []
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        grader = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else None
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        if grader is not None and not grader.get("solution", False):
            continue
        if grader is None and EXPERIMENT_TAG in tags:
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        out.append((index, source))
    return out


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


def feedback_html(result: dict, code_cells: list[tuple[int, str]], assignment: str) -> str:
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
    for name in CRITERIA:
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


# --------------------------------------------------------------------------- nbgrader gradebook

def default_db_url(course_dir: Path) -> str:
    cfg = course_config(course_dir)
    url = cfg.CourseDirectory.get("db_url")
    return url or f"sqlite:///{(course_dir / 'gradebook.db').resolve()}"


def _test_cells(nb, source: Path) -> dict[str, float]:
    """grade_id -> points of the source notebook's autograded test cells; checked against CRITERIA."""
    tests = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            tests[meta["grade_id"]] = float(meta.get("points", 0))
    problems = [f"no test cell with grade_id {name!r}" for name in CRITERIA if name not in tests]
    problems += [f"test cell {name!r} has {tests[name]:g} points, the criteria table says {pts}"
                 for name, pts in CRITERIA.items() if name in tests and tests[name] != pts]
    if problems:
        raise ValueError(f"{source}: does not match initkit.criteria: " + "; ".join(problems))
    return tests


def ensure_assignment(gb, course_dir: Path, assignment: str, source: Path, db_url: str) -> str:
    """Make sure the gradebook knows the assignment, its notebook and all its graded cells.

    If the notebook is already there with every criterion's test cell (e.g. the instructor ran
    `nbgrader generate_assignment`), nothing changes. Otherwise the source notebook goes through
    the steps generate_assignment runs before it saves cells (ClearSolutions, ComputeChecksums)
    and then nbgrader's own SaveCells, so the gradebook holds exactly what generate_assignment
    would have put there: the criteria's test cells, the manually graded answers, their source.
    Returns the notebook's name.
    """
    import nbformat
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import ClearSolutions, ComputeChecksums, SaveCells

    nb = nbformat.read(str(source), as_version=4)
    _test_cells(nb, source)
    name = source.stem
    try:
        notebook = gb.find_notebook(name, assignment)
        have = {c.name: c.max_score for c in notebook.grade_cells}
        if all(have.get(c) == pts for c, pts in CRITERIA.items()):
            return name
    except MissingEntry:
        pass
    cfg = course_config(course_dir)
    course_id = cfg.CourseDirectory.get("course_id")
    gb.update_or_create_assignment(assignment, **({"course_id": course_id} if course_id else {}))
    resources = {"nbgrader": {"notebook": name, "assignment": assignment, "db_url": db_url}}
    try:
        for step in (ClearSolutions(config=cfg), ComputeChecksums(config=cfg), SaveCells(config=cfg)):
            nb, resources = step.preprocess(nb, resources)
    except RuntimeError as exc:  # SaveCells refuses to change cells once submissions exist
        raise RuntimeError(f"{db_url}: cannot record the cells of {source}: {exc}") from exc
    return name


def _timestamp(path: Path | None) -> str | None:
    """The submission time nbgrader's `collect`/`submit` leave in timestamp.txt, if any."""
    if path is None:
        return None
    stamp = path.parent / "timestamp.txt"
    try:
        text = stamp.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def write_gradebook(results: list[dict], course_dir: Path, assignment: str, *,
                    db_url: str | None = None, notebooks: dict[str, Path | None] | None = None,
                    source: Path | None = None) -> str:
    """Record each result's criterion scores as nbgrader auto scores; returns the db URL.

    Creates missing students and submissions; updates auto_score only, so a grader's manual
    scores (and the written answers' grades) are kept.
    """
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    course_dir = Path(course_dir)
    db_url = db_url or default_db_url(course_dir)
    if source is None:
        found = sorted((course_dir / "source" / assignment).glob("*.ipynb"))
        if len(found) != 1:
            raise FileNotFoundError(f"{course_dir / 'source' / assignment}: expected one source "
                                    f"notebook, found {len(found)}")
        source = found[0]
    cfg = course_config(course_dir)
    course_id = cfg.CourseDirectory.get("course_id") or "default_course"
    notebooks = notebooks or {}
    with alembic_on_path(), warnings.catch_warnings(), Gradebook(db_url, course_id=course_id) as gb:
        # nbgrader's models trip SQLAlchemy 2's autoflush warnings ("not in session"); the rows
        # are fine
        warnings.filterwarnings("ignore", message=".*not in session.*")
        nb_name = ensure_assignment(gb, course_dir, assignment, source, db_url)
        stamps = {r["student"]: _timestamp(notebooks.get(r["student"])) for r in results}
        submitted = {s.student_id: s for s in gb.find_assignment(assignment).submissions}
        for student, submission in submitted.items():
            if stamps.get(student):
                submission.timestamp = parse_utc(stamps[student])
        add_submissions(gb, assignment, [r["student"] for r in results if r["student"] not in submitted],
                        stamps)
        grades = _criterion_grades(gb, assignment, nb_name)
        for r in results:
            for name in CRITERIA:
                grade = grades[r["student"], name]
                grade.auto_score = float(r["criteria"][name]["score"])
                # as nbgrader's SaveAutoGrades: a manual override needs a second look
                grade.needs_manual_grade = grade.manual_score is not None
        gb.db.commit()
    return db_url


def add_submissions(gb, assignment: str, students: list[str], stamps: dict[str, str | None]) -> None:
    """nbgrader's Gradebook.add_student (for those it lacks) and add_submission for each of
    `students`, in one transaction.

    Those methods commit once per call, and a commit expires every loaded object: the first
    grading of 1,000 students took 25 s in them. The rows are built here exactly as
    add_submission builds them (nbgrader 0.9; tests/test_reports.py compares the two).
    """
    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook
    from nbgrader.utils import parse_utc

    if not students:
        return
    target = gb.find_assignment(assignment)
    known = {s.id: s for s in gb.students}
    notebooks = [(nb, list(nb.grade_cells), list(nb.solution_cells), list(nb.task_cells))
                 for nb in target.notebooks]
    with gb.db.no_autoflush:      # nothing to read back until the one flush at the end
        for student_id in students:
            student = known.get(student_id)
            if student is None:
                student = known[student_id] = Student(id=student_id)
                gb.db.add(student)
            extra = {"timestamp": parse_utc(stamps[student_id])} if stamps.get(student_id) else {}
            submission = SubmittedAssignment(assignment=target, student=student, **extra)
            for notebook, grade_cells, solution_cells, task_cells in notebooks:
                nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                for cell in grade_cells:
                    Grade(cell_id=cell.id, notebook=nb)
                for cell in solution_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                for cell in task_cells:
                    Comment(cell_id=cell.id, notebook=nb)
                    Grade(cell_id=cell.id, notebook=nb)
            gb.db.add(submission)
    gb.db.flush()


def _criterion_grades(gb, assignment: str, notebook: str) -> dict:
    """{(student, criterion): Grade} of the assignment's notebook, in one query (walking
    submission -> notebook -> grades loads them a few rows at a time)."""
    from nbgrader.api import (Assignment, BaseCell, Grade, Notebook, SubmittedAssignment,
                              SubmittedNotebook)

    rows = (gb.db.query(SubmittedAssignment.student_id, BaseCell.name, Grade)
            .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(BaseCell, Grade.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment, Notebook.name == notebook,
                    BaseCell.name.in_(list(CRITERIA))))
    return {(student, name): grade for student, name, grade in rows}


# --------------------------------------------------------------------------- all of it

def write_reports(summary: "BatchSummary", *, course_dir: Path,
                  gradebook: str | bool | None = None) -> dict[str, str]:
    """Write every report of a batch; returns what went where."""
    out = Path(summary.out_dir)
    results = summary.results
    files = {}
    atomic_write(out / "grades.csv", grades_csv(results))
    files["grades.csv"] = str(out / "grades.csv")
    atomic_write(out / "grades.json", grades_json(results, summary.assignment))
    files["grades.json"] = str(out / "grades.json")
    for r in results:
        cells = student_code_cells(summary.notebooks.get(r["student"]))
        atomic_write(feedback_path(out, r, summary.assignment),
                     feedback_html(r, cells, summary.assignment))
    files["feedback"] = str(out / "feedback")
    if gradebook is not False:
        url = write_gradebook(results, Path(course_dir), summary.assignment,
                              db_url=gradebook if isinstance(gradebook, str) else None,
                              notebooks=summary.notebooks)
        files["gradebook"] = url
    return files


# --------------------------------------------------------------------------- terminal text

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
            rows.append([r["student"], _num(r["score"]), r["status"], _short(note)])
        lines += [""] + _table(rows, right={1}) + [""]
    mean_, median_ = summary.mean_score, summary.median_score
    lines.append(f"graded {len(summary.graded)}   errors {len(summary.errors)}   "
                 f"timeouts {len(summary.timeouts)}")
    if mean_ is not None:
        lines.append(f"score (graded, of {MAX_SCORE}): mean {mean_:.1f}   median {median_:.1f}")
    failed = summary.most_failed()
    if failed:
        lines.append("most often failed: " + ", ".join(f"{n} ({k})" for n, k in failed))
    if summary.files:
        lines.append("")
        lines += _table([[what, where] for what, where in summary.files.items()])
    return "\n".join(lines)


def format_result(result: dict) -> str:
    """One submission's result as a readable report (initkit grade-one)."""
    lines = [f"{result['student']}: {_num(result['score'])} / {_num(result['max_score'])} "
             f"({result['status']}, isolation: {result.get('isolation')}, "
             f"{result.get('duration', 0):.1f} s)"]
    if result["status"] == "error":
        lines.append(f"error: {result.get('error')}")
    rows = [["criterion", "points"]] + [
        [n, f"{_num(c['score'])} / {_num(c['max_score'])}"] for n, c in result["criteria"].items()]
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
