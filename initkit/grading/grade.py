"""Grade one submission: read it, run it in a sandbox session, run the hidden tests -> one result.

The result shape is result.py's: batch grading, the reports and the CLI all read it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .result import error_result, make_result, student_name

if TYPE_CHECKING:
    from ..course import Course


def grade_notebook(path, course: "Course", *, host=None, limits=None, student: str | None = None,
                   student_factory: Callable | None = None) -> dict:
    """Grade the notebook at `path` with the course's hidden tests.

    host             a SandboxHost to open the session on (batch workers keep one); None: a private
                     SandboxHost with `limits`, closed afterwards
    student_factory  instead of a sandbox, `student_factory(cells)` makes the session, e.g.
                     initkit.sandbox.inprocess.InProcessStudent for the benchmark's in-process
                     floor (NO isolation: trusted notebooks only)
    student          the student id (default: from the path, see result.student_name)
    """
    from ..reference import reference
    from ..submission import SubmissionError, read_submission
    from .collect import load_tests
    from .runner import run_tests

    start = time.perf_counter()
    name = student or student_name(path, course.assignment)
    notebook = Path(path).name
    try:
        cells = read_submission(path)
    except SubmissionError as exc:
        return error_result(name, notebook, course.criteria, str(exc),
                            duration=time.perf_counter() - start)
    tests, ref = load_tests(course), reference(course)   # before the session: set-up problems raise here

    private_host = None
    if student_factory is not None:
        session, isolation = student_factory(cells), "none"
    else:
        if host is None:
            from ..sandbox import SandboxHost

            host = private_host = SandboxHost(limits)
        isolation = getattr(host, "isolation", "none")
        session = None
    try:
        if session is None:
            session = host.open_session(cells)
        try:
            results = run_tests(session, ref, tests, course.criteria)
            cell_errors = list(session.cell_errors)
        finally:
            session.close()
    finally:
        if private_host is not None:
            private_host.close()
    return make_result(name, notebook, course.criteria, status="graded", tests=results,
                       cell_errors=cell_errors, isolation=isolation,
                       duration=time.perf_counter() - start, error=None)
