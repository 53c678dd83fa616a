"""What a student sees from `nbgrader validate` (the command the README gives students, and the
Validate button), which cuts every traceback line at 90 characters: for typical mistakes, the
visible check's first line names the function and the mistake before the cut, and names the same
formula the hidden tests name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fakes import ASSIGNMENT, REPO
from initkit.course import Course
from initkit.grading.grade import grade_notebook
from initkit.sandbox.inprocess import InProcessStudent
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow       # nbgrader validate executes the whole notebook

MISTAKES = {
    # He drawn with 2/fan_out: the hidden test says "... is 2/fan_out"
    "he_2_over_fan_out": ({"initialize_he": '''def initialize_he(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        std = np.sqrt(2.0 / layer_dims[l])
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * std
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''}, "initialize_he: variance is 2/fan_out", "2/fan_out"),
    # Xavier with LeCun's 1/fan_in
    "xavier_lecun": ({"initialize_xavier": '''def initialize_xavier(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    parameters = {}
    for l in range(1, len(layer_dims)):
        std = np.sqrt(1.0 / layer_dims[l - 1])
        parameters[f"W{l}"] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * std
        parameters[f"b{l}"] = np.zeros((layer_dims[l], 1))
    return parameters
'''}, "initialize_xavier: variance is 1/fan_in (LeCun)", "1/fan_in (LeCun)"),
}


def _validate(path: Path) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=path.parent,
                          env=env, capture_output=True, text=True, timeout=600)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_the_first_line_survives_validate_and_agrees_with_the_hidden_tests(tmp_path, mistake):
    course = Course.open(REPO, ASSIGNMENT)
    overrides, first_words, formula = MISTAKES[mistake]
    nb = make_submission(course, overrides)
    path = tmp_path / f"{ASSIGNMENT}.ipynb"
    nbformat.write(nb, str(path))
    shown = _validate(path)
    lines = [line for line in shown.splitlines() if first_words in line]
    assert lines, shown[-3000:]
    assert all(len(line) <= 90 for line in shown.splitlines() if "AssertionError" in line)
    hidden = grade_notebook(path, course, student_factory=InProcessStudent)
    messages = " ".join(t["message"] for t in hidden["tests"] if t["outcome"] != "passed")
    assert f"is {formula}" in messages, messages[:2000]      # the same mistake, named the same
