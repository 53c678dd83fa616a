"""The one result shape: what grading one submission produces, and everything later reads.

    {"student", "notebook", "status": "graded" | "error", "score", "max_score",
     "criteria": {name: {"score", "max_score"}},       # every criterion, the course's order
     "tests": [{"name", "criterion", "outcome", "score", "max_score", "message"}],
     "cell_errors": [{"cell", "kind", "message"}], "isolation", "duration", "error": str | None,
     "notes": [str],                  # for the student, e.g. which file was graded and why
     "student_code": [[index, source]],   # the student's own code cells, for the feedback
     "digest": str}                   # sha256 of the notebook graded (when one was read)

A criterion's points are shared equally among its tests. status "error" (a file that cannot be
graded) has score 0, every criterion 0, no tests, and `error` set; its notes never say a file
was graded. `Result` (and CriterionScore, TestOutcome, CellError) spell the shape out for type
checkers; results stay plain dicts, as JSON in the cache and the reports.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Mapping, NotRequired, TypedDict

if TYPE_CHECKING:
    from ..course import Course

logger = logging.getLogger(__name__)


class CriterionScore(TypedDict):
    score: float
    max_score: float


class TestOutcome(TypedDict):
    name: str
    criterion: str
    outcome: Literal["passed", "failed", "error", "timeout"]
    score: float
    max_score: float
    message: str


class CellError(TypedDict):
    cell: int
    kind: Literal["error", "timeout", "crash"]
    message: str


class Result(TypedDict):
    """One submission's result (the module docstring)."""

    student: str
    notebook: str
    status: Literal["graded", "error"]
    score: float
    max_score: float
    criteria: dict[str, CriterionScore]
    tests: list[TestOutcome]
    cell_errors: list[CellError]
    isolation: str
    duration: float
    error: str | None
    notes: list[str]
    student_code: list[list]          # [index, source]
    digest: NotRequired[str]


def student_name(path, assignment: str) -> str:
    """`<student>` of submitted/<student>/<assignment>/x.ipynb, else the file's stem."""
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-4] == "submitted" and parts[-2] == assignment:
        return parts[-3]
    return Path(path).stem


def criteria_scores(tests: list[TestOutcome], criteria: Mapping[str, float]) -> dict[str, CriterionScore]:
    """{criterion: {"score", "max_score"}} for every criterion, in the course's order: the
    criterion's points times the fraction of its tests that passed."""
    passed = {c: 0 for c in criteria}
    total = {c: 0 for c in criteria}
    for t in tests:
        if t["criterion"] in total:
            total[t["criterion"]] += 1
            passed[t["criterion"]] += t["outcome"] == "passed"
    return {c: {"score": round(points * passed[c] / total[c], 6) if total[c] else 0.0,
                "max_score": points}
            for c, points in criteria.items()}


def make_result(student: str, notebook: str, criteria: Mapping[str, float], *, status: str,
                tests: list[TestOutcome], cell_errors: list[CellError], isolation: str,
                duration: float, error: str | None, notes: list[str] = (),
                student_code: list[tuple[int, str]] = ()) -> Result:
    scores = criteria_scores(tests, criteria)
    return {
        "student": student,
        "notebook": notebook,
        "status": status,
        "score": round(sum(c["score"] for c in scores.values()), 6),
        "max_score": sum(criteria.values()),
        "criteria": scores,
        "tests": tests,
        "cell_errors": cell_errors,
        "isolation": isolation,
        "duration": round(duration, 4),
        "error": error,
        "notes": list(notes),
        "student_code": [[index, source] for index, source in student_code],
    }


def error_result(student: str, notebook: str, criteria: Mapping[str, float], reason: str, *,
                 isolation: str = "none", duration: float = 0.0, notes: list[str] = ()) -> Result:
    """The result of a submission that cannot be graded: score 0, every criterion 0, no tests.

    notes  only what is true of a submission that was not graded: never the hand-in's note
           (handin.pick_notebook's "Graded X; ..."), which is true of a graded row only, so a
           student is never told both "could not be graded" and "Graded X"."""
    return make_result(student, notebook, criteria, status="error", tests=[], cell_errors=[],
                       isolation=isolation, duration=duration, error=reason, notes=notes)


def as_error(result: Result, criteria: Mapping[str, float], reason: str) -> Result:
    """`result` turned into an error row (a later stage failed for this student), keeping its
    notes and code so the feedback can still show them, except the note saying which file was
    graded (see error_result)."""
    from ..handin import says_which_file_was_graded

    row = error_result(result["student"], result.get("notebook") or "", criteria, reason,
                       isolation=result.get("isolation", "none"), duration=result.get("duration", 0.0),
                       notes=[n for n in result.get("notes") or [] if not says_which_file_was_graded(n)])
    row["student_code"] = result.get("student_code") or []
    return row


def grade_or_error_row(grade: Callable[[], Result], course: "Course", *, student: str,
                       notebook: str, shown: str) -> Result:
    """`grade()`, or, if it raises, `student`'s error row saying so: a bug in the grader costs that
    one row, never the batch. The one place this is decided, for the local pool, the cluster and
    Gradescope alike; the traceback is logged (for the grader, not the student).

    shown  how the row's reason names the submission (its path, usually)"""
    start = time.perf_counter()
    try:
        return grade()
    except Exception as exc:
        logger.exception("%s: internal grading error", shown)
        return error_result(student, notebook, course.criteria,
                            f"{shown}: internal grading error: {type(exc).__name__}: {exc}",
                            duration=time.perf_counter() - start)


def distinct_failures(tests: list[dict], clean=str) -> list[tuple[str, str, int]]:
    """(outcome, message, how often) of each distinct failure among `tests`, in order of first
    appearance; `clean(message)` first (a function that timed out fails all its tests alike)."""
    counts: dict[tuple[str, str], int] = {}
    for t in tests:
        if t.get("outcome") != "passed":
            key = (str(t.get("outcome")), clean(str(t.get("message") or "no message")))
            counts[key] = counts.get(key, 0) + 1
    return [(outcome, message, n) for (outcome, message), n in counts.items()]


def timed_out(result: Result) -> bool:
    """True if any part of the submission hit a time limit."""
    if any(t.get("outcome") == "timeout" for t in result.get("tests", [])):
        return True
    if any(e.get("kind") == "timeout" for e in result.get("cell_errors", [])):
        return True
    return "timed out" in (result.get("error") or "")
