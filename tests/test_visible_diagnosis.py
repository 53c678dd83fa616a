"""The student's view agrees with the grader's: for every assignment of the course and each of
its example submissions, the visible checks, run by nbgrader's own Validator (the Validate button
and `nbgrader validate`, which cut every line at 90 characters), name the function and the mistake
before the cut, in the words the hidden tests use for that criterion; and no visible check fails
where the hidden tests give the criterion full marks.

A message is "fn: the mistake; details": its head (before the first ";") is what must survive the
cut and appear in the hidden tests' message. Both come from the notebook's diagnosis cell."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.validator import Validator

from fakes import REPO
from initkit import cells
from initkit.course import Course, assignments
from initkit.grading.grade import grade_notebook

pytestmark = pytest.mark.slow       # a kernel runs each example's visible checks

HEAD_WITHIN = 60                    # the promise: function and mistake in 60 characters


def _examples():
    for assignment in assignments(REPO):
        folder = REPO / "examples" / assignment / "submitted"
        for path in sorted(folder.glob(f"*/{assignment}/*.ipynb")):
            yield pytest.param(assignment, path, id=f"{assignment}-{path.parents[1].name}")


def _normal(text: str) -> str:
    """Layer numbers aside (a visible check may catch the mistake in W2, the hidden one in W1)."""
    return re.sub(r"\b(d?[Wb]|layer )\d+\b", r"\1#", " ".join(text.split()))


def _validate(path: Path) -> str:
    """What `nbgrader validate` prints for the notebook at `path` (the student's command)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", path.name], cwd=path.parent,
                          env=env, capture_output=True, text=True, timeout=600)
    return proc.stdout


def _visible_failures(course: Course, path: Path, tmp_path: Path) -> dict[str, str]:
    """criterion -> the exception line `nbgrader validate` shows for its failing visible cell."""
    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if cells.classify(c) is not cells.Kind.EXPERIMENT]
    copy = tmp_path / path.name
    nbformat.write(nb, str(copy))
    cut = Validator()._indent                             # nbgrader's own cut of a shown line
    by_source = {cut(cells.source(c).strip()): cells.grade_id(c) for c in nb.cells
                 if cells.classify(c) is cells.Kind.VISIBLE_TEST}
    failures = {}
    for block in _validate(copy).split("=" * 90):
        if "The following cell failed:" not in block or "The error was:" not in block:
            continue
        shown_source, error = block.split("The error was:", 1)
        shown_source = shown_source.split("The following cell failed:", 1)[1].strip("\n")
        criterion = by_source.get(shown_source)
        errors = re.findall(r"^    (\w+(?:Error|Exception)\b.*)$", error, re.MULTILINE)
        if criterion in course.criteria:
            failures[criterion] = errors[-1] if errors else error.strip()
    return failures


@pytest.mark.parametrize("assignment,path", list(_examples()))
def test_visible_checks_say_what_the_hidden_tests_say(assignment, path, tmp_path):
    course = Course.open(REPO, assignment)
    try:
        nbformat.read(str(path), as_version=4)
    except Exception:                                   # noqa: BLE001 - the broken-upload example
        pytest.skip("not a notebook")
    hidden = grade_notebook(path, course)       # the sandbox: an infinite loop costs two timeouts
    if any(t["outcome"] == "timeout" for t in hidden["tests"]):
        pytest.skip("an infinite loop: the visible check would hang the kernel as well")
    lost = {}
    for t in hidden["tests"]:
        if t["outcome"] != "passed":
            lost.setdefault(t["criterion"], []).append(t["message"])
    for criterion, line in _visible_failures(course, path, tmp_path).items():
        assert criterion in lost, (f"{criterion}: a visible check fails ({line}) where the hidden "
                                   "tests give full marks")
        if not line.startswith("AssertionError: "):
            continue                                    # e.g. NotImplementedError: an unfinished stub
        message = line[len("AssertionError: "):]
        head = message.split(";")[0].rstrip()
        assert not head.endswith("...") and len(head) <= HEAD_WITHIN, (
            f"{criterion}: the visible check's mistake is not named within {HEAD_WITHIN} characters: {line}")
        assert any(_normal(head) in _normal(m) for m in lost[criterion]), (
            f"{criterion}: the visible check says {head!r}; the hidden tests say {lost[criterion]}")
