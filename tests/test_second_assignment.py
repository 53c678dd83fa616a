"""The course's second assignment goes everywhere the first one goes: `initkit grade` over its
examples, `nbgrader autograde` (formgrader's Autograde button) with the same scores per criterion
and nbgrader's feedback, the Gradescope autograder, a Canvas column of its own beside the first
assignment's, and a Dask cluster; and grading it leaves the first assignment's outputs alone.

Expectations come from the course: points from the source notebook, what each example is meant to
lose from the example's own name (examples/signals_depth/make_examples.py)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fakes import REPO, copy_real_course
from initkit import api
from initkit.course import Course
from initkit.gradescope import run as gs_run

pytestmark = pytest.mark.slow

SECOND = "signals_depth"
EXAMPLES = REPO / "examples" / SECOND / "submitted"
NB = f"{SECOND}.ipynb"
# What each faulty example must lose (and nothing else): the criteria its mistake breaks.
LOSES = {
    "std_with_ddof_1": {"stats_mean_std"},
    "spectral_norm": {"stats_grad_norm"},
    "dead_units_any": {"stats_dead_units"},
    "tanh_gain_sqrt2": {"gain"},
    "orthogonal_no_sign_correction": {"orthogonal_sign"},
    "lsuv_after_activation": {"lsuv_variance"},
    "lsuv_nonzero_biases": {"lsuv_protocol"},
    "lsuv_ignores_rng": {"lsuv_protocol"},
    "diagnose_wrong_ends": {"diagnosis"},
    "untouched_stub": {"stats_mean_std", "stats_grad_norm", "stats_dead_units"},
    "infinite_loop": {"lsuv_variance", "lsuv_protocol", "lsuv_error"},
}
FULL = {"correct", "correct_written_differently"}


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Course:
    """A copy of the course with both assignments, the second's examples as its submissions."""
    root = copy_real_course(tmp_path_factory.mktemp("two") / "course")
    for folder in (f"source/{SECOND}", f"release/{SECOND}"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.rmtree(root / "submitted")
    shutil.copytree(EXAMPLES, root / "submitted", ignore=lambda folder, names: ["infinite_loop"])
    return Course.open(root, SECOND)


@pytest.fixture(scope="module")
def graded(course_copy):
    """`initkit grade` of the second assignment, into the course's gradebook."""
    run = api.grade(course_copy, workers=2, progress=False)
    return {r["student"]: r for r in run.results}


def _lost(row) -> set[str]:
    return {n for n, c in row["criteria"].items() if c["score"] < c["max_score"]}


def test_its_examples_lose_what_their_mistakes_break(graded, course_copy):
    assert set(graded) == {p.name for p in EXAMPLES.iterdir()} - {"infinite_loop"}
    for student, row in graded.items():
        if student in FULL:
            assert row["score"] == course_copy.max_score, (student, _lost(row))
        elif student == "broken_upload":
            assert row["status"] == "error" and row["score"] == 0
        else:
            assert row["status"] == "graded", student
            assert _lost(row) == LOSES[student], student
    # the first assignment's outputs are not touched
    assert not (course_copy.root / "grading-output" / "init_symmetry").exists()


def test_nbgrader_autograde_and_feedback_agree(graded, course_copy):
    from nbgrader.api import Gradebook

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    students = ["correct", "orthogonal_no_sign_correction", "lsuv_nonzero_biases"]
    for command in (["autograde", SECOND, "--force"], ["generate_feedback", SECOND, "--force"]):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *command],
                              cwd=course_copy.root, env=env, capture_output=True, text=True, timeout=1200)
        # nbgrader cannot read the broken upload (not JSON): the one failure, the others graded
        errors = [line for line in proc.stderr.splitlines() if "| ERROR]" in line and "submitted/" in line]
        assert proc.returncode == (1 if errors else 0), proc.stderr[-4000:]
        assert all("broken_upload" in line for line in errors), errors
    with Gradebook(f"sqlite:///{course_copy.root / 'gradebook.db'}", course_id="initkit") as gb:
        for student in students:
            submission = gb.find_submission(SECOND, student)
            theirs = {g.name: g.auto_score for g in submission.notebooks[0].grades
                      if g.name in course_copy.criteria}
            assert theirs == {n: c["score"] for n, c in graded[student]["criteria"].items()}, student
    page = (course_copy.root / "feedback" / "orthogonal_no_sign_correction" / SECOND /
            f"{SECOND}.html").read_text(encoding="utf-8")
    assert course_copy.title("orthogonal_sign") in page


def test_gradescope_autograder_gives_the_same_scores(graded, course_copy, tmp_path):
    built = api.build_gradescope(course_copy, tmp_path / "autograder.zip")
    for student in ("correct", "orthogonal_no_sign_correction", "broken_upload"):
        root = tmp_path / student / "autograder"
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(root / "source")
        (root / "submission").mkdir()
        shutil.copy(EXAMPLES / student / SECOND / NB, root / "submission" / NB)
        assert gs_run.main(["--root", str(root)]) == 0
        results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
        assert results["score"] == graded[student]["score"], student
        assert [t["name"] for t in results["tests"]] == [course_copy.title(n) for n in course_copy.criteria]


def test_canvas_gets_a_column_of_its_own(graded, course_copy, tmp_path):
    first, second = "init_symmetry (12345)", f"{SECOND} (777)"
    roster = tmp_path / "roster.csv"
    with roster.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", first, second])
        writer.writerow(["    Points Possible", "", "", "", "", "110", "110"])
        for i, student in enumerate(sorted(graded)):
            writer.writerow([f"Student {i}", str(100 + i), f"S{i}", student, "Sec 1", "42", ""])
    out = tmp_path / "import.csv"
    api.export_canvas(course_copy, roster, out)
    with out.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    students = {r["SIS Login ID"]: r for r in rows if r["SIS Login ID"]}
    for student, row in graded.items():
        if student in FULL:
            assert float(students[student][second]) == course_copy.max_score
        assert students[student].get(first, "42") == "42"          # the first column untouched


def test_the_cluster_grades_it_as_the_local_pool(graded, course_copy, tmp_path):
    distributed = pytest.importorskip("distributed")
    from initkit.grading.batch import grade_batch

    some = tmp_path / "some"
    for student in ("correct", "spectral_norm", "diagnose_wrong_ends"):
        shutil.copytree(EXAMPLES / student, some / student)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster:
        remote = grade_batch(course_copy, tmp_path / "remote", submissions_dir=some, progress=False,
                             scheduler=cluster.scheduler_address)
    for row in remote.results:
        assert row["criteria"] == graded[row["student"]]["criteria"], row["student"]
