"""The release's closing "Before you submit" cell, run as a student runs it: in a kernel, after
the notebook, with one exercise left unfinished and another redefined in a scratch cell."""

from __future__ import annotations

import nbformat
import pytest

from fakes import REPO
from initkit import cells
from initkit.course import Course, assignments
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow       # it executes a whole notebook


def _check_output(nb) -> str:
    from nbclient import NotebookClient

    nb.cells = [c for c in nb.cells if cells.classify(c) is not cells.Kind.EXPERIMENT]
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    (last,) = [c for c in nb.cells if cells.classify(c) is cells.Kind.STUDENT_CHECK]
    return "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")


def _exercises(course: Course) -> list[str]:
    """The functions the students write, in notebook order (the answer cells' definitions)."""
    nb = nbformat.read(str(course.source_notebook), as_version=4)
    return [name for c in nb.cells if cells.classify(c) is cells.Kind.ANSWER
            for name in cells.defined_functions(cells.source(c))]


@pytest.mark.parametrize("assignment", assignments(REPO))
def test_it_names_the_unfinished_and_the_redefined_and_grading_skips_it(assignment):
    course = Course.open(REPO, assignment)
    unfinished, redefined, *done = _exercises(course)
    stub = f"def {unfinished}(*args, **kwargs):\n    raise NotImplementedError()\n"
    nb = make_submission(course, {unfinished: stub})
    check = next(i for i, c in enumerate(nb.cells) if cells.classify(c) is cells.Kind.STUDENT_CHECK)
    assert check == len(nb.cells) - 1, "the check is the release's last cell"
    nb.cells.insert(check, nbformat.v4.new_code_cell(       # a scratch cell, as students add them
        f"def {redefined}(*args, **kwargs):\n    return {{}}\n\nprint({redefined}())"))
    text = _check_output(nb)
    assert f"{unfinished}: unfinished: it still raises NotImplementedError" in text, text
    assert f"{redefined}: defined 2 different ways, one of them in a scratch cell" in text, text
    for name in done:
        assert f"{name}: done" in text, text
    # Grading never runs it, and nothing of it is the student's code.
    from initkit.submission import parse

    parsed = parse(nbformat.writes(nb).encode(), "nb", course.layout)
    assert all("_before_you_submit" not in c.source for c in parsed.cells)
    assert all("_before_you_submit" not in code for _, code in parsed.student_code)
