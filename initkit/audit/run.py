"""The audit, end to end: generate mutants, screen them, grade everything for real, classify.

1. origins     the reference and every alternative of <course>/audit/alternatives/
2. mutants     of every function each origin writes itself (mutate.py)
3. screening   differential probing drops the ones that behave exactly like their original
               (screen.py)
4. grading     one real submission notebook per origin and per remaining mutant (the release
               notebook, answer cells filled: initkit.solutions.make_submission), graded by
               grading.batch.grade_batch: the sandbox, the hidden tests, the worker pool and the
               result cache, exactly what students get
5. classifying an origin that loses a point is a false fail; a mutant that fails a test its
               origin passes (or cannot be graded) is killed, else it survives, unless
               audit/accepted.toml accepts it

`run_audit` returns the report as a dict (report.py writes it as JSON and HTML).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import alternatives as alt
from . import mutate, screen

if TYPE_CHECKING:
    from ..course import Course

logger = logging.getLogger(__name__)


class SubmissionBuilder:
    """Submission notebooks (JSON text) from the release notebook, fast: make_submission once for
    the reference, then only the answer cells that differ are replaced."""

    def __init__(self, course: "Course"):
        import nbformat

        from .. import cells
        from ..solutions import make_submission

        nb = make_submission(course)
        self.nb = json.loads(nbformat.writes(nb))
        self.cells: dict[int, list[str]] = {}       # answer cell index -> its functions
        for i, cell in enumerate(self.nb["cells"]):
            if cell.get("cell_type") == "code" and cells.classify(cell) is cells.Kind.ANSWER:
                self.cells[i] = cells.defined_functions(cells.source(cell))
        self.reference = alt.reference_origin(course).functions

    def notebook(self, overrides: dict[str, str]) -> str:
        out = dict(self.nb)
        out["cells"] = list(self.nb["cells"])
        for i, names in self.cells.items():
            if any(n in overrides for n in names):
                text = "\n\n\n".join(overrides.get(n, self.reference[n]).strip("\n") for n in names)
                out["cells"][i] = {**out["cells"][i], "source": text}
        return json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _student(kind: str, key: str) -> str:
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _failed_tests(result: dict) -> dict[str, dict]:
    return {t["name"]: t for t in result.get("tests", []) if t.get("outcome") != "passed"}


def run_audit(course: "Course", *, folder: str | os.PathLike | None = None,
              out_dir: str | os.PathLike | None = None, workers: int | None = None,
              force: bool = False, progress: bool = True, probes_per_mutant: int = screen.PROBES,
              functions: list[str] | None = None, only_origins: list[str] | None = None,
              grade_options: dict | None = None, wait: bool = False) -> dict:
    """Audit the hidden tests of `course` (see the module doc); returns the report dict.

    folder       the course's audit folder (default `<course>/audit`)
    out_dir      where the grading cache goes (default: the course's default_output, audit/)
    workers      processes for screening and grading (default: all cores)
    force        regrade everything, ignoring cached results
    functions    only mutate these answer functions ([]: none, a fairness check only)
    only_origins only these origins (the reference is "reference"), and their mutants
    wait         another run is writing into out_dir: False raises lock.RunLocked (at once,
                 before any work), True waits for it
    """
    from ..lock import output_lock

    started = time.perf_counter()
    folder = Path(folder) if folder is not None else alt.audit_folder(course)
    out = Path(out_dir) if out_dir is not None else course.default_output / "audit"
    with output_lock(out, wait=wait):
        return _audit_locked(course, started, folder, out, workers=workers, force=force,
                             progress=progress, probes_per_mutant=probes_per_mutant,
                             functions=functions, only_origins=only_origins,
                             grade_options=grade_options)


def _audit_locked(course: "Course", started: float, folder: Path, out: Path, *,
                  workers: int | None, force: bool, progress: bool, probes_per_mutant: int,
                  functions: list[str] | None, only_origins: list[str] | None,
                  grade_options: dict | None) -> dict:
    """run_audit's work, with the lock of its output folder held (it grades into it): steps 1 to
    5 of the module docstring. The course's audit files are read first, so that a broken one
    stops the audit before any work."""
    origins = [o for o in alt.origins(course, folder) if only_origins is None or o.name in only_origins]
    probes = alt.load_probes(course, folder)
    accepted = alt.load_accepted(course, folder)
    answers = list(alt.reference_origin(course).functions)
    own_criteria = alt.function_criteria(course, answers)

    made = _mutants(origins, functions)
    generated_at = time.perf_counter()
    logger.info("audit: %d mutants of %d solutions (%.1f s); screening them",
                len(made), len(origins), generated_at - started)
    kept = _screen(course, origins, made, probes=probes, answers=answers, workers=workers,
                   probes_per_mutant=probes_per_mutant)
    screened_at = time.perf_counter()
    logger.info("audit: %d screened out as equivalent, %d to grade (%.1f s)",
                len(made) - len(kept), len(kept), screened_at - generated_at)
    summary, built_at = _grade(course, out, origins, kept, workers=workers, force=force,
                               progress=progress, grade_options=grade_options)
    graded_at = time.perf_counter()

    report = classify(course, origins, kept, {r["student"]: r for r in summary.results}, accepted,
                      own_criteria, student_of=_student)
    report.update({
        "assignment": course.assignment,
        "generated": len(made),
        "screened_out": len(made) - len(kept),
        "operators": sorted({m.operator for m in made}),
        "workers": summary.workers,
        "graded_now": summary.graded_now,
        "reused": summary.reused,
        "timing": {"generate": round(generated_at - started, 2),
                   "screen": round(screened_at - generated_at, 2),
                   "build": round(built_at - screened_at, 2),
                   "grade": round(graded_at - built_at, 2)},
        "seconds": round(time.perf_counter() - started, 2),
    })
    return report


def _mutants(origins: list, functions: list[str] | None) -> list[mutate.Mutant]:
    """Step 2: the mutants of every function each origin writes itself (of `functions` only, if
    given)."""
    made: list[mutate.Mutant] = []
    for origin in origins:
        for function in origin.own:
            if functions is None or function in functions:
                made += mutate.mutants(origin.name, function, origin.functions[function])
    return made


def _screen(course: "Course", origins: list, made: list, *, probes: dict, answers: list[str],
            workers: int | None, probes_per_mutant: int) -> list[tuple]:
    """Step 3: (mutant, verdict) of each mutant that differs from its origin on a probe."""
    from ..reference import reference_cells

    by_origin = {o.name: o for o in origins}
    tasks = [(m.origin, m.function, by_origin[m.origin].cell(m.function, m.source)) for m in made]
    verdicts = screen.screen(tasks, base=reference_cells(course.source_notebook),
                             origins={o.name: [o.cell(f) for f in o.own] for o in origins},
                             probes=probes, answers=answers, workers=workers,
                             probes_per_mutant=probes_per_mutant)
    return [(m, v) for m, v in zip(made, verdicts) if not v.equivalent]


def _grade(course: "Course", out: Path, origins: list, kept: list, *, workers: int | None,
           force: bool, progress: bool, grade_options: dict | None):
    """Step 4: one submission per origin and per kept mutant, graded by grade_batch into `out`.
    Returns (the batch's summary, when the submissions were built)."""
    from ..grading.batch import grade_batch

    builder = SubmissionBuilder(course)
    by_origin = {o.name: o for o in origins}
    students: dict[str, str] = {}            # student -> the notebook's text
    for origin in origins:
        students[_student("alt", origin.name)] = builder.notebook(origin.overrides())
    for m, _ in kept:
        students[_student("mut", m.id)] = builder.notebook(
            by_origin[m.origin].overrides(m.function, m.source))
    tmp = Path(tempfile.mkdtemp(prefix="initkit-audit-"))
    try:
        for student, text in students.items():
            folder = tmp / student / course.assignment
            folder.mkdir(parents=True)
            (folder / course.notebook).write_text(text, encoding="utf-8")
        built_at = time.perf_counter()
        return grade_batch(course, out, submissions_dir=tmp, workers=workers, force=force,
                           progress=progress, **(grade_options or {})), built_at
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def classify(course: "Course", origins: list, kept: list, results: dict[str, dict],
             accepted: dict, own_criteria: dict[str, list[str]], *, student_of) -> dict:
    """The report's findings from the graded results (see run_audit, step 5)."""
    alternatives, false_fails, origin_failed = [], [], {}
    for origin in origins:
        r = results[student_of("alt", origin.name)]
        failed = _failed_tests(r)
        origin_failed[origin.name] = set(failed)
        alternatives.append({"name": origin.name, "description": origin.description,
                             "functions": list(origin.own), "score": r["score"],
                             "max_score": r["max_score"], "status": r["status"]})
        if r["status"] != "graded":
            false_fails.append({"alternative": origin.name, "criterion": None, "test": None,
                                "message": r.get("error") or "could not be graded"})
        for t in failed.values():
            false_fails.append({"alternative": origin.name, "criterion": t["criterion"],
                                "test": t["name"], "message": t.get("message", "")})

    criteria = {name: {"points": pts, "mutants": 0, "killed": 0, "survivors": 0, "accepted": 0,
                       "kills": 0} for name, pts in course.criteria.items()}
    killed = 0
    survivors, accepted_list, isolation, seen_accepted = [], [], [], set()
    for m, verdict in kept:
        r = results[student_of("mut", m.id)]
        own = own_criteria.get(m.function) or []
        primary = own[0] if own else None
        new_failures = {n: t for n, t in _failed_tests(r).items() if n not in origin_failed[m.origin]}
        is_killed = r["status"] != "graded" or bool(new_failures)
        lost = sorted({t["criterion"] for t in new_failures.values()},
                      key=lambda c: list(course.criteria).index(c) if c in course.criteria else 99)
        row = criteria.get(primary)
        if row is not None:
            row["mutants"] += 1
        for c in lost:
            if c in criteria:
                criteria[c]["kills"] += 1
        entry = {"id": m.id, "origin": m.origin, "function": m.function, "operator": m.operator,
                 "line": m.line, "criterion": primary, "diff": m.diff, "probe": verdict.probe}
        if is_killed:
            killed += 1
            if row is not None:
                row["killed"] += 1
            others = [c for c in lost if c not in own]
            if others:
                isolation.append({"id": m.id, "function": m.function, "criterion": primary,
                                  "lost": lost, "other_criteria": others, "score": r["score"],
                                  "message": next(t.get("message", "") for t in new_failures.values()
                                                  if t["criterion"] in others).split("\n")[0][:300]})
        elif m.id in accepted:
            seen_accepted.add(m.id)
            accepted_list.append({**entry, "reason": accepted[m.id].reason})
            if row is not None:
                row["accepted"] += 1
        else:
            survivors.append(entry)
            if row is not None:
                row["survivors"] += 1
    mutants = len(kept)
    scored = mutants - len(accepted_list)
    return {
        "mutation_score": round(killed / scored, 6) if scored else 1.0,
        "mutants": mutants,
        "killed": killed,
        "survivors": survivors,
        "accepted": accepted_list,
        "stale_accepted": sorted(set(accepted) - seen_accepted),
        "alternatives": alternatives,
        "false_fails": len(false_fails),
        "false_fail_details": false_fails,
        "criteria": criteria,
        "function_criteria": own_criteria,
        "isolation": isolation,
        "isolation_summary": _isolation_summary(isolation),
    }


def _isolation_summary(isolation: list[dict]) -> list[dict]:
    """(function, other criterion) -> how many killed mutants of the function lost points there,
    with one example; most first."""
    groups: dict[tuple[str, str], dict] = {}
    for m in isolation:
        for c in m["other_criteria"]:
            g = groups.setdefault((m["function"], c), {"function": m["function"], "criterion": c,
                                                       "mutants": 0, "example": m["id"],
                                                       "message": m["message"]})
            g["mutants"] += 1
    return sorted(groups.values(), key=lambda g: (-g["mutants"], g["function"], g["criterion"]))


def audit(course: "Course", *, json_path: str | os.PathLike | None = None,
          html_path: str | os.PathLike | None = None, min_score: float | None = None,
          **options) -> tuple[dict, bool]:
    """Run the audit (run_audit's options), write the JSON and HTML reports asked for, and say
    whether it passes: (report, ok). ok is False when min_score is given and the mutation score
    is below it, or an alternative (a correct solution) loses points."""
    from . import report as reports

    data = run_audit(course, **options)
    if json_path is not None:
        reports.write_json(data, json_path)
    if html_path is not None:
        reports.write_html(data, html_path)
    ok = min_score is None or (data["mutation_score"] >= min_score and data["false_fails"] == 0)
    return data, ok
