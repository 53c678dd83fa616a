"""Run the hidden tests against one student session, without pytest's per-run cost.

pytest's start-up costs more than grading a whole submission, so the tests are collected once per
process (collect.py, with pytest's own collection) and each one is called here with the fixtures
`student` (the session), `ref` (the trusted reference) and `diagnosis` (the notebook's shared
messages), and its parameters. The outcome of a
test is the same as under `pytest autograder --submission ...` (tests/grading/test_autograder.py
checks).

Outcomes: passed; failed (an AssertionError of the test, or StudentError: the student's function
raised); timeout (StudentTimeout, BudgetExhausted); error (StudentCrash, or an unexpected exception
in the test, reported generically: hidden test code and tracebacks never reach a message).
"""

from __future__ import annotations

from typing import Mapping

from ..sandbox import BudgetExhausted, RepeatedTimeout, StudentCrash, StudentError, StudentTimeout
from .collect import HiddenTest

_MAX_TRACEBACK_LINES = 12


# --------------------------------------------------------------------------- outcomes

def _student_error_message(exc: StudentError) -> str:
    fn = exc.fn
    if exc.exc_type == "NameError" and "is not defined (or not a function) in the notebook" in exc.message \
            and repr(fn) in exc.message:
        return f"{fn} is not defined in your notebook (run its cell, and keep the name unchanged)"
    if exc.exc_type == "NotImplementedError":
        return f"{fn} is not implemented yet (it raises NotImplementedError)"
    text = f"{fn} raised {exc.exc_type}" + (f": {exc.message}" if exc.message else "")
    lines = (exc.traceback or "").strip().splitlines()
    if lines:
        text += "\n" + "\n".join(lines[-_MAX_TRACEBACK_LINES:])
    return text


def describe(exc: BaseException) -> tuple[str, str]:
    """(outcome, message) for an exception a hidden test raised; the message shows no test code."""
    if isinstance(exc, AssertionError):
        return "failed", str(exc) or "the check failed"
    if isinstance(exc, StudentError):
        return "failed", _student_error_message(exc)
    if isinstance(exc, (BudgetExhausted, RepeatedTimeout)):
        return "timeout", str(exc)
    if isinstance(exc, StudentTimeout):
        return "timeout", f"{exc.fn} took longer than {exc.seconds:g} s (time limit)"
    if isinstance(exc, StudentCrash):
        return "error", f"{exc.fn}: the process running your code crashed ({exc.reason})"
    return "error", ("this check could not be completed: the grader hit an unexpected "
                     f"{type(exc).__name__} while checking what your code returned")


def run_test(test: HiddenTest, student, trusted: Mapping[str, object]) -> tuple[str, str]:
    """Call one hidden test with the student's session and the trusted fixtures (`ref`, the
    reference solutions, and `diagnosis`, the notebook's shared messages)."""
    available = {"student": student, **trusted}
    kwargs = {name: available[name] for name in test.fixtures}
    kwargs.update(test.params)
    try:
        test.func(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure of a test is an outcome, never a crash
        return describe(exc)
    return "passed", ""


def shares(tests: list[HiddenTest], criteria: Mapping[str, float]) -> dict[str, float]:
    """Points per test of each criterion: its points shared equally among its tests."""
    counts = {c: 0 for c in criteria}
    for t in tests:
        counts[t.criterion] += 1
    return {c: criteria[c] / n for c, n in counts.items() if n}


def run_tests(student, trusted: Mapping[str, object], tests: list[HiddenTest],
              criteria: Mapping[str, float]) -> list[dict]:
    """Every hidden test against `student`: [{"name", "criterion", "outcome", "score",
    "max_score", "message"}] in collection order."""
    share = shares(tests, criteria)
    results = []
    for test in tests:
        outcome, message = run_test(test, student, trusted)
        points = share[test.criterion]
        results.append({"name": test.name, "criterion": test.criterion, "outcome": outcome,
                        "score": points if outcome == "passed" else 0.0, "max_score": points,
                        "message": message})
    return results
