"""The release's closing "Before you submit" cell, run as a student runs it: in a kernel, after
the notebook, with one exercise left unfinished and another redefined in a scratch cell."""

from __future__ import annotations

import nbformat
import pytest

from fakes import ASSIGNMENT, REPO
from initkit import cells
from initkit.course import Course
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow       # it executes a whole notebook


def _check_output(nb) -> str:
    from nbclient import NotebookClient

    nb.cells = [c for c in nb.cells if cells.classify(c) is not cells.Kind.EXPERIMENT]
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    (last,) = [c for c in nb.cells if cells.classify(c) is cells.Kind.STUDENT_CHECK]
    return "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")


def test_it_names_the_unfinished_and_the_redefined_and_grading_skips_it():
    course = Course.open(REPO, ASSIGNMENT)
    stub = "def compute_cost(AL, Y):\n    raise NotImplementedError()\n"
    nb = make_submission(course, {"compute_cost": stub})
    check = next(i for i, c in enumerate(nb.cells) if cells.classify(c) is cells.Kind.STUDENT_CHECK)
    assert check == len(nb.cells) - 1, "the check is the release's last cell"
    nb.cells.insert(check, nbformat.v4.new_code_cell(       # a scratch cell, as students add them
        "def initialize_he(layer_dims, rng=None):\n    return {}\n\nprint(initialize_he([2, 1]))"))
    text = _check_output(nb)
    assert "compute_cost: unfinished: it still raises NotImplementedError" in text, text
    assert "initialize_he: defined 2 different ways, one of them in a scratch cell" in text, text
    assert "forward_propagation: done" in text and "initialize_zeros: done" in text, text
    # Grading never runs it, and nothing of it is the student's code.
    from initkit.submission import parse

    parsed = parse(nbformat.writes(nb).encode(), "nb", course.layout)
    assert all("_before_you_submit" not in c.source for c in parsed.cells)
    assert all("_before_you_submit" not in code for _, code in parsed.student_code)
