"""One grading result (grading/result.py's shape) as Gradescope's results.json: pure functions.

    {"score", "execution_time", "output", "output_format", "test_output_format", "visibility",
     "stdout_visibility", "extra_data",
     "tests": [{"name", "score", "max_score", "status", "output", "visibility"}]}

One test per criterion, in the course's order, named by its title (Course.title), its output that criterion's block of the feedback
page (reports/feedback.py's page_data: the distinct failures, grader paths cut, cells numbered
from 1); the top-level output is the summary. Text only (output_format "text": student output is
hostile and is never rendered as HTML or Markdown). Hidden tests' code and names never appear:
the runner's messages never hold test code, and the feedback data holds no test names. The
grader's stdout (its log) is hidden from students.

Scores are `initkit grade`'s: the tests' scores are the criteria's, and the top-level score is
their sum, less the late penalty when a late policy applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..reports.feedback import page_data, strip_paths
from ..reports.tables import num

if TYPE_CHECKING:
    from ..course import Course
    from .late import Lateness

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MAX_OUTPUT_CHARS = 20_000        # per test and for the top level: Gradescope shows it on one page
_SHORTENED = "\n[... shortened ...]"


def _cap(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - len(_SHORTENED)] + _SHORTENED


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def criterion_output(block: dict, graded: bool) -> str:
    """One criterion's feedback as text: how many checks passed, each distinct failure once."""
    if not graded:
        return "Not graded: your notebook could not be graded (see the message above)."
    if not block["checks"]:
        return "No checks ran for this part."
    if not block["failures"]:
        return f"All {block['checks']} checks passed."
    lines = [f"Passed {block['passed']} of {block['checks']} checks."]
    for failure in block["failures"]:
        times = f" ({failure['count']} checks)" if failure["count"] > 1 else ""
        lines.append(f"- [{failure['outcome']}]{times} {failure['summary']}")
        if failure["detail"].strip():
            lines.append(_indent(failure["detail"].rstrip()))
    return "\n".join(lines)


def _test(name: str, score: float, max_score: float, output: str, visibility: str) -> dict:
    return {"name": name, "score": score, "max_score": max_score,
            "status": "passed" if score >= max_score - 1e-9 else "failed",
            "output": _cap(output), "visibility": visibility}


def summary_output(data: dict, score: float, raw_score: float, late: "Lateness | None",
                   notes: list[str] = ()) -> str:
    """The top-level output: the score, why it is what it is, and the criteria at a glance."""
    lines = []
    if late is not None and late.penalty_percent:
        lines.append(f"Autograded score: {num(score)} / {data['max_score']} "
                     f"({num(raw_score)} before the late penalty)")
    else:
        lines.append(f"Autograded score: {num(score)} / {data['max_score']}")
    if data["manual_points"]:
        lines.append(f"Your written answers ({data['manual_points']}) are graded by hand "
                     "separately.")
    if late is not None and late.message:
        lines += ["", late.message]
    if data["error"]:
        lines += ["", f"Your notebook could not be graded: {data['error']}"]
    for note in [*data["notes"], *(strip_paths(str(n)) for n in notes)]:
        lines += ["", note]
    if data["cell_errors"]:
        lines += ["", "Cells of your notebook that failed when run:"]
        for ce in data["cell_errors"]:
            where = f" ({ce['where']})" if ce["where"] else ""
            lines.append(f"- {ce['label']}{where}: {ce['kind']}: {ce['summary']}")
    if data["all_passed"]:
        lines += ["", "All checks passed."]
    lines += ["", "Parts:"]
    width = max([len(b["title"]) for b in data["criteria"]] + [4])
    for block in data["criteria"]:
        lines.append(f"  {block['title'].ljust(width)}  {block['score']:>6} / {block['max_score']}")
    # Last, so that the cap cuts these first: each failed cell's traceback (student frames only).
    for ce in data["cell_errors"]:
        if ce["detail"]:
            where = f" ({ce['where']})" if ce["where"] else ""
            lines += ["", f"Traceback of {ce['label']}{where}:", _indent(ce["detail"])]
    return _cap("\n".join(lines))


def gradescope_results(result: dict, course: "Course", *, visibility: str = "visible",
                       late: "Lateness | None" = None, execution_time: float | None = None,
                       notes: list[str] = ()) -> dict:
    """results.json for one graded (or ungradable) submission.

    late   what the late policy did (None: no late policy)
    notes  more lines for the top-level output (e.g. which file was graded)
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility {visibility!r}: expected one of {', '.join(VISIBILITIES)}")
    code = [(int(i), str(src)) for i, src in result.get("student_code") or []]
    data = page_data(result, code, course)
    graded = result["status"] == "graded"
    blocks = {b["name"]: b for b in data["criteria"]}
    tests = []
    for name, points in course.criteria.items():
        c = result["criteria"].get(name, {"score": 0.0, "max_score": points})
        tests.append(_test(course.title(name), float(c["score"]), float(c["max_score"]),
                           criterion_output(blocks[name], graded), visibility))
    for block in data["criteria"]:
        if block["name"] not in course.criteria:      # tests of no listed criterion: shown, 0 points
            tests.append(_test(block["title"], 0.0, 0.0, criterion_output(block, graded), visibility)
                         | {"status": "failed" if block["failures"] else "passed"})
    raw = float(result["score"])
    penalty = late.penalty_percent if late is not None else 0.0
    score = round(raw * (1 - penalty / 100), 6)
    results = {
        "score": score,
        "output": summary_output(data, score, raw, late, list(notes)),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"initkit": {"status": result["status"], "score_before_late_penalty": raw,
                                   "late_penalty_percent": penalty,
                                   "isolation": result.get("isolation"),
                                   "notebook": data["notebook"]}},
    }
    if execution_time is not None:
        results["execution_time"] = max(0, round(execution_time))
    return results


def failure_results(message: str, course: "Course | None" = None, *, visibility: str = "visible",
                    execution_time: float | None = None) -> dict:
    """results.json when nothing could be graded (no notebook, several, the autograder broke):
    score 0, `message` (already fit for the student) as the top-level output, and each criterion
    at 0 when the course is known."""
    message = strip_paths(message)
    tests = [_test(course.title(name), 0.0, float(points), "Not graded (see the message above).",
                   visibility)
             for name, points in (course.criteria.items() if course is not None else ())]
    results = {"score": 0.0, "output": _cap(message), "output_format": "text",
               "test_output_format": "text",
               "visibility": visibility if visibility in VISIBILITIES else "visible",
               "stdout_visibility": "hidden", "tests": tests,
               "extra_data": {"initkit": {"status": "not graded"}}}
    if execution_time is not None:
        results["execution_time"] = max(0, round(execution_time))
    return results
