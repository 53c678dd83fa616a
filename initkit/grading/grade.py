"""Grade one submission: parse it, run it in a sandbox session, run the hidden tests -> one result.

The result shape is result.py's: batch grading, the reports and the CLI all read it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..handin import HandIn, read_notebook_file
from ..submission import SubmissionError, parse
from .result import Result, error_result, make_result, student_name

if TYPE_CHECKING:
    from ..course import Course


def grade_notebook(path, course: "Course", *, host=None, limits=None, student: str | None = None,
                   note: str | None = None, student_factory: Callable | None = None) -> Result:
    """Grade the notebook file at `path` (one the grader names: `initkit grade-one`, Gradescope).

    student  the student id (default: from the path, see result.student_name)
    note     for the student if it is graded, e.g. which file was graded and why (a file that
             cannot be read gets an error row without it: nothing was graded)
    The other options are grade_hand_in's.
    """
    name = student or student_name(path, course.assignment)
    try:
        hand_in = read_notebook_file(path, name)
    except SubmissionError as exc:
        return error_result(name, Path(path).name, course.criteria, str(exc))
    if note is not None:
        hand_in = replace(hand_in, note=note)
    return grade_hand_in(hand_in, course, host=host, limits=limits, student_factory=student_factory)


def grade_hand_in(hand_in: HandIn, course: "Course", *, host=None, limits=None,
                  student_factory: Callable | None = None) -> Result:
    """Grade what a student handed in with the course's hidden tests.

    host             a SandboxHost to open the session on (batch workers keep one); None: a private
                     SandboxHost with `limits`, closed afterwards
    student_factory  instead of a sandbox, `student_factory(cells)` makes the session, e.g.
                     initkit.sandbox.inprocess.InProcessStudent for the benchmark's in-process
                     floor (NO isolation: trusted notebooks only)
    """
    from ..reference import diagnosis, reference
    from .collect import load_tests
    from .runner import run_tests

    start = time.perf_counter()
    remarks = [hand_in.remark] if hand_in.remark else []     # initkit_note.txt: graded or not
    notes = ([hand_in.note] if hand_in.note else []) + remarks
    try:
        submission = parse(hand_in.data, hand_in.path or hand_in.name, course.layout)
    except SubmissionError as exc:
        # No hand-in note: "Graded X" is not true of a file that could not be graded.
        return {**error_result(hand_in.student, hand_in.name, course.criteria, str(exc), notes=remarks,
                               duration=time.perf_counter() - start), "digest": hand_in.digest}
    notes += submission.notes
    # Before the session: set-up problems raise here.
    tests, trusted = load_tests(course), {"ref": reference(course), "diagnosis": diagnosis(course)}

    private_host = None
    if student_factory is not None:
        session, isolation = student_factory(submission.cells), "none"
    else:
        if host is None:
            from ..sandbox import SandboxHost

            host = private_host = SandboxHost(limits)
        isolation = getattr(host, "isolation", "none")
        session = None
    try:
        if session is None:
            session = host.open_session(submission.cells)
        try:
            results = run_tests(session, trusted, tests, course.criteria)
            cell_errors = list(session.cell_errors)
        finally:
            session.close()
    finally:
        if private_host is not None:
            private_host.close()
    return {**make_result(hand_in.student, hand_in.name, course.criteria, status="graded",
                          tests=results, cell_errors=cell_errors, isolation=isolation,
                          duration=time.perf_counter() - start, error=None, notes=notes,
                          student_code=submission.student_code),
            "digest": hand_in.digest}


def check_grading_setup(course: "Course") -> None:
    """Load the hidden tests, the reference and the diagnosis cell; a CourseError (one line) if
    they cannot be, never a batch of zeros."""
    from ..course import CourseError
    from ..reference import ReferenceNotebookError, diagnosis, reference
    from .collect import HiddenTestsError, load_tests

    try:
        load_tests(course)
        reference(course)
        diagnosis(course)
    except (HiddenTestsError, ReferenceNotebookError) as exc:
        raise CourseError(" ".join(str(exc).split())) from exc
