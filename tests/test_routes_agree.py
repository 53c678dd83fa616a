"""One truth on every route: `initkit grade` and `nbgrader autograde` (formgrader's Autograde
button) give the same score per criterion on a folder that mixes every way students edit cells,
and no student's notebook stops nbgrader's run for the others."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course
from initkit import api, cells
from initkit.course import Course
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow
K = cells.Kind
NB = "init_symmetry.ipynb"


def _at(nb, kind: K, which: int = 0) -> int:
    return [i for i, c in enumerate(nb.cells) if cells.classify(c) is kind][which]


def _copy_cell(cell):
    copied = copy.deepcopy(cell)
    copied["id"] = uuid.uuid4().hex[:8]         # as Jupyter's copy-paste does
    return copied


def _retype(cell, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "markdown":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _duplicate_test(nb):
    i = _at(nb, K.VISIBLE_TEST)
    nb.cells.insert(i + 1, _copy_cell(nb.cells[i]))


def _duplicate_answer(nb):
    i = _at(nb, K.ANSWER, 1)
    nb.cells.insert(i, _copy_cell(nb.cells[i]))


def _delete_test(nb):
    del nb.cells[_at(nb, K.VISIBLE_TEST, 2)]


def _given_to_markdown(nb):
    for i, cell in enumerate(nb.cells):
        if cells.classify(cell) is K.GIVEN:
            _retype(nb.cells[i], "markdown")


def _answer_to_markdown(nb):
    _retype(nb.cells[_at(nb, K.ANSWER, -1)], "markdown")


EDITS = {"duplicated_test": _duplicate_test, "duplicated_answer": _duplicate_answer,
         "deleted_test": _delete_test, "given_to_markdown": _given_to_markdown,
         "answer_to_markdown": _answer_to_markdown}


@pytest.fixture(scope="module")
def course_with_edits(tmp_path_factory):
    root = copy_real_course(tmp_path_factory.mktemp("routes") / "course")
    course = Course.open(root, ASSIGNMENT)
    faulty = nbformat.read(str(REPO / "examples" / ASSIGNMENT / "submitted" / "he_uses_1_over_fan_in" / ASSIGNMENT / NB),
                           as_version=4)
    for name, edit in EDITS.items():
        for base, prefix in ((make_submission(course), ""), (copy.deepcopy(faulty), "faulty_")):
            edit(base)
            path = root / "submitted" / (prefix + name) / ASSIGNMENT / NB
            path.parent.mkdir(parents=True)
            nbformat.write(base, str(path))
    return course


def test_initkit_grade_and_nbgrader_autograde_agree_per_criterion(course_with_edits):
    from nbgrader.api import Gradebook

    course = course_with_edits
    summary = api.grade(course, course.root / "out", workers=2, progress=False)
    ours = {r["student"]: r for r in summary.results}
    assert all(r["status"] == "graded" for r in ours.values())
    for name in EDITS:
        assert ours[name]["score"] == course.max_score, (name, ours[name]["criteria"])
        assert ours[name]["notes"], name
        assert ours["faulty_" + name]["score"] < course.max_score, name

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                          cwd=course.root, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course_id="initkit") as gb:
        theirs = {}
        for student in ours:
            submission = gb.find_submission(ASSIGNMENT, student)
            theirs[student] = {g.name: g.auto_score for g in submission.notebooks[0].grades
                               if g.name in course.criteria}
    for student, result in ours.items():
        assert theirs[student] == {n: c["score"] for n, c in result["criteria"].items()}, student
