"""Autograded notebooks in nbgrader's sense: written by `initkit grade`, made by `nbgrader
autograde` through initkit's step, read by nbgrader (SaveAutoGrades' partial credit, the API
formgrader uses) with initkit's scores and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course
from fakes import HE_LINE, example_score
from initkit import api
from initkit.course import Course
from initkit.reports.autograded import annotate, release_cells, restore_cells

NB = "init_symmetry.ipynb"
STUDENTS = ("correct", "he_uses_1_over_fan_in", "broken_upload")


def _nbgrader_total(path: Path) -> float:
    """What nbgrader's own SaveAutoGrades makes of the notebook's autograded test cells."""
    from nbgrader.utils import determine_grade

    nb = nbformat.read(str(path), as_version=4)
    total = 0.0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            total += determine_grade(cell)[0]
    return total


def _test_cell_text(path: Path, grade_id: str) -> str:
    nb = nbformat.read(str(path), as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A copy of the course with three example submissions, graded by `initkit grade`."""
    course_dir = copy_real_course(tmp_path_factory.mktemp("c") / "course")
    for student in STUDENTS:
        src = REPO / "examples" / ASSIGNMENT / "submitted" / student / ASSIGNMENT / NB
        dest = course_dir / "submitted" / student / ASSIGNMENT / NB
        dest.parent.mkdir(parents=True)
        dest.write_bytes(src.read_bytes())
    (course_dir / "submitted" / "correct" / ASSIGNMENT / "timestamp.txt").write_text(
        "2026-11-30 10:00:00.000000 UTC\n")
    course = Course.open(course_dir, ASSIGNMENT)
    summary = api.grade(course, course_dir / "out", workers=2, progress=False)
    return course, {r["student"]: r for r in summary.results}


def test_initkit_grade_writes_what_nbgrader_reads(graded):
    from initkit.nbgrader_env import alembic_on_path, course_config
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course, results = graded
    folder = course.root / "autograded"
    for student in STUDENTS:
        path = folder / student / ASSIGNMENT / NB
        assert path.is_file(), student
        assert _nbgrader_total(path) == pytest.approx(results[student]["score"]), student
    assert (folder / "correct" / ASSIGNMENT / "timestamp.txt").is_file()
    he = _test_cell_text(folder / "he_uses_1_over_fan_in" / ASSIGNMENT / NB, "he_variance")
    assert he.startswith(HE_LINE)
    assert "is 1/fan_in (LeCun)" in he
    broken = nbformat.read(str(folder / "broken_upload" / ASSIGNMENT / NB), as_version=4)
    assert "initkit could not grade this submission" in broken.cells[0].source
    assert "not valid JSON" in broken.cells[0].source
    config = course_config(course.root)
    nbgrader = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    with alembic_on_path():
        listed = {s["student"]: s for s in nbgrader.get_submissions(ASSIGNMENT)}
    assert {s: (listed[s]["autograded"], listed[s]["score"]) for s in STUDENTS} == {
        s: (True, results[s]["score"]) for s in STUDENTS}
    assert listed["correct"]["max_score"] == course.max_score + course.manual_points   # written answers too
    assert listed["correct"]["needs_manual_grade"]                 # the written answers
    assert listed["correct"]["timestamp"].startswith("2026-11-30")


def test_a_rerun_leaves_unchanged_autograded_notebooks_alone(graded):
    course, _ = graded
    path = course.root / "autograded" / "correct" / ASSIGNMENT / NB
    before = path.stat().st_mtime_ns
    api.grade(course, course.root / "out", workers=1, progress=False)
    assert path.stat().st_mtime_ns == before


@pytest.mark.slow
def test_nbgrader_autograde_grades_with_initkit(graded, tmp_path):
    """`nbgrader autograde` (what formgrader's button runs) with the course's config gives
    initkit's scores and messages, not the visible tests' verdict."""
    from nbgrader.api import Gradebook

    course, results = graded
    initkit_he = _test_cell_text(course.root / "autograded" / "he_uses_1_over_fan_in" / ASSIGNMENT / NB,
                                 "he_variance")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force",
                           "--student", "he_uses_1_over_fan_in"],
                          cwd=course.root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"initkit: he_uses_1_over_fan_in scores {example_score('he_uses_1_over_fan_in')}" in proc.stderr
    path = course.root / "autograded" / "he_uses_1_over_fan_in" / ASSIGNMENT / NB
    assert _test_cell_text(path, "he_variance") == initkit_he
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}", course_id="initkit") as gb:
        submission = gb.find_submission(ASSIGNMENT, "he_uses_1_over_fan_in")
        assert submission.score == results["he_uses_1_over_fan_in"]["score"] == example_score("he_uses_1_over_fan_in")
        grades = {g.name: g.auto_score for g in submission.notebooks[0].grades if g.name in course.criteria}
    assert grades == {n: c["score"] for n, c in results["he_uses_1_over_fan_in"]["criteria"].items()}


def test_restore_cells_puts_the_instructors_cells_back():
    course = Course.open(REPO, ASSIGNMENT)
    release = nbformat.read(str(course.release_notebook), as_version=4)
    nb = nbformat.read(str(course.release_notebook), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
             and not c.metadata.nbgrader.get("solution")]
    tests[0].source = "pass  # the student emptied the visible test"
    nb.cells.remove(tests[1])
    given = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked") and c.cell_type == "code"
             and not c.metadata.nbgrader.get("grade") and not c.metadata.nbgrader.get("solution")]
    given[0].source = "def sigmoid(Z):\n    return 0.5"
    given.append([c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("locked")][0])
    given[1].source = "the student rewrote the instructions"
    restore_cells(nb, course.layout, release_cells(release))
    by_id = {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader")}
    theirs = {c.metadata.nbgrader.grade_id: c for c in release.cells if c.metadata.get("nbgrader")}
    for name in (tests[0].metadata.nbgrader.grade_id, tests[1].metadata.nbgrader.grade_id,
                 given[0].metadata.nbgrader.grade_id, given[1].metadata.nbgrader.grade_id):
        assert by_id[name].source == theirs[name].source, name


def test_annotate_gives_each_criterion_its_points():
    from initkit.grading.result import make_result

    course = Course.open(REPO, ASSIGNMENT)
    nb = nbformat.read(str(course.release_notebook), as_version=4)
    tests = [{"name": f"t{i}", "criterion": "cost", "outcome": "passed" if i else "failed",
              "score": 0, "max_score": 0, "message": "" if i else "compute_cost: <wrong>"}
             for i in range(4)]
    result = make_result("ann", NB, course.criteria, status="graded", tests=tests, cell_errors=[],
                         isolation="none", duration=0, error=None)
    annotate(nb, result, course)
    cost = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cost"][0]
    assert [o.output_type for o in cost.outputs] == ["stream", "execute_result"]
    assert cost.outputs[1].data["text/plain"] == repr(result["criteria"]["cost"]["score"]) == "3.75"
    assert "- failed: compute_cost: <wrong>" in cost.outputs[0].text
