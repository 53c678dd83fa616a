"""Grade one submission: read it, run it in a sandbox session, run the hidden tests -> one result.

The result shape (docs/architecture.md) is the only one: batch grading, the reports and the CLI
all read it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .criteria import ASSIGNMENT, MAX_SCORE


def student_name(path) -> str:
    """`<student>` of submitted/<student>/<assignment>/x.ipynb, else the file's stem."""
    p = Path(path)
    parts = p.parts
    if len(parts) >= 4 and parts[-4] == "submitted" and parts[-2] == ASSIGNMENT:
        return parts[-3]
    return p.stem


def _result(student, path, *, status, tests, cell_errors, isolation, duration, error):
    from .runner import criteria_scores

    criteria = criteria_scores(tests)
    return {
        "student": student,
        "notebook": Path(path).name,
        "status": status,
        "score": round(sum(c["score"] for c in criteria.values()), 6),
        "max_score": MAX_SCORE,
        "criteria": criteria,
        "tests": tests,
        "cell_errors": cell_errors,
        "isolation": isolation,
        "duration": round(duration, 4),
        "error": error,
    }


def error_result(path, reason: str, *, student: str | None = None, isolation: str = "none",
                 duration: float = 0.0) -> dict:
    """The result of a file that cannot be graded: score 0, every criterion 0, no tests."""
    return _result(student or student_name(path), path, status="error", tests=[], cell_errors=[],
                   isolation=isolation, duration=duration, error=reason)


def grade_notebook(path, *, host=None, limits=None, student: str | None = None,
                   student_factory: Callable | None = None) -> dict:
    """Grade the notebook at `path` with the hidden tests.

    host             a SandboxHost to open the session on (batch workers keep one); None: a private
                     SandboxHost with `limits`, closed afterwards
    student_factory  instead of a sandbox, `student_factory(cells)` makes the session, e.g.
                     initkit.inprocess.InProcessStudent for the benchmark's in-process floor
                     (NO isolation: trusted notebooks only)
    student          the student id (default: from the path, see student_name)
    """
    from .notebook import SubmissionError, read_submission
    from .reference import reference
    from .runner import load_tests, run_tests

    start = time.perf_counter()
    name = student or student_name(path)
    try:
        cells = read_submission(path)
    except SubmissionError as exc:
        return error_result(path, str(exc), student=name, duration=time.perf_counter() - start)
    tests, ref = load_tests(), reference()     # before the session: set-up problems raise here

    private_host = None
    if student_factory is not None:
        session, isolation = student_factory(cells), "none"
    else:
        if host is None:
            from .sandbox import SandboxHost

            host = private_host = SandboxHost(limits)
        isolation = getattr(host, "isolation", "none")
        session = None
    try:
        if session is None:
            session = host.open_session(cells)
        try:
            results = run_tests(session, ref, tests)
            cell_errors = list(session.cell_errors)
        finally:
            session.close()
    finally:
        if private_host is not None:
            private_host.close()
    return _result(name, path, status="graded", tests=results, cell_errors=cell_errors,
                   isolation=isolation, duration=time.perf_counter() - start, error=None)


