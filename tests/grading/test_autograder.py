"""The hidden autograder end to end: full marks for the instructor's code, zero for the untouched
release, the same outcomes through initkit.runner and through real pytest, clear messages that
never show hidden test code, the reference taken from the source notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from initkit.course import Course
from initkit.grading import collect, runner
from initkit.grading.grade import grade_notebook as _grade_notebook
from initkit.grading.result import student_name
from initkit.reference import ReferenceNotebookError, load_reference, reference
from initkit.sandbox import Limits, SandboxHost
from initkit.sandbox.inprocess import InProcessStudent
from initkit.solutions import make_submission as _make_submission

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "init_symmetry"
COURSE = Course.open(REPO, ASSIGNMENT)
CRITERIA = COURSE.criteria
MAX_SCORE = COURSE.max_score
# The functions students implement: the hidden tests take the right answers from the reference.
CONTRACT = ("initialize_zeros", "initialize_constant", "initialize_random", "initialize_xavier",
            "initialize_he", "forward_propagation", "compute_cost", "backward_propagation",
            "update_parameters", "is_layer_symmetric")


def grade_notebook(path, **kwargs):
    return _grade_notebook(path, COURSE, **kwargs)


def make_submission(overrides=None):
    return _make_submission(COURSE, overrides)

FAULTY = {
    # a wrong He fan, a missing 1/m, a symmetry check that ignores the biases, a constant init
    # that crashes for one case
    "initialize_he": '''def initialize_he(layer_dims, rng=None):
    rng = np.random.default_rng() if rng is None else rng
    return {k: v for l in range(1, len(layer_dims)) for k, v in
            ((f"W{l}", rng.standard_normal((layer_dims[l], layer_dims[l - 1])) / np.sqrt(layer_dims[l - 1])),
             (f"b{l}", np.zeros((layer_dims[l], 1))))}
''',
    "is_layer_symmetric": '''def is_layer_symmetric(parameters, l, tol=1e-10):
    W = parameters[f"W{l}"]
    return bool(np.max(np.abs(W - W[0])) <= tol)
''',
    "initialize_constant": '''def initialize_constant(layer_dims, value=0.5):
    if value < 0:
        raise ValueError("negative values are not supported")
    return {k: np.full(s, float(value)) for l in range(1, len(layer_dims))
            for k, s in ((f"W{l}", (layer_dims[l], layer_dims[l - 1])), (f"b{l}", (layer_dims[l], 1)))}
''',
}


@pytest.fixture(scope="module")
def host():
    with SandboxHost() as h:
        yield h


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    paths = {"solution": folder / "solution.ipynb", "faulty": folder / "faulty.ipynb",
             "release": COURSE.release_notebook}
    nbformat.write(make_submission(), str(paths["solution"]))
    nbformat.write(make_submission(FAULTY), str(paths["faulty"]))
    return paths


@pytest.fixture(scope="module")
def graded(host, notebooks):
    return {name: grade_notebook(path, host=host) for name, path in notebooks.items()}


def _hidden_source_lines() -> set[str]:
    """Distinctive lines of the hidden tests' code (what must never reach a student)."""
    lines = set()
    for f in (f for _, f in COURSE.hidden_files() if f.suffix == ".py"):
        for line in f.read_text().splitlines():
            line = line.strip()
            if len(line) > 25 and not line.startswith(("#", '"', "'")):
                lines.add(line)
    return lines


def test_solution_scores_full_marks_in_the_sandbox(graded):
    r = graded["solution"]
    assert r["status"] == "graded" and r["error"] is None
    assert r["score"] == MAX_SCORE, [t for t in r["tests"] if t["outcome"] != "passed"]
    assert list(r["criteria"]) == list(CRITERIA)
    assert all(c["score"] == c["max_score"] for c in r["criteria"].values())
    assert r["isolation"] in ("bubblewrap", "none")
    assert r["cell_errors"] == []


def test_untouched_release_scores_zero_with_a_message_per_test(graded):
    r = graded["release"]
    assert r["status"] == "graded"
    assert r["score"] == 0
    assert all(c["score"] == 0 for c in r["criteria"].values())
    assert {t["outcome"] for t in r["tests"]} == {"failed"}          # no crash, no internal error
    for t in r["tests"]:
        assert "is not implemented yet (it raises NotImplementedError)" in t["message"], t


def test_result_shape_and_shares(graded):
    r = graded["faulty"]
    assert set(r) == {"student", "notebook", "status", "score", "max_score", "criteria", "tests",
                      "cell_errors", "isolation", "duration", "error", "notes", "student_code",
                      "digest"}
    assert r["student"] == "faulty" and r["notebook"] == "faulty.ipynb"
    for name, points in CRITERIA.items():
        mine = [t for t in r["tests"] if t["criterion"] == name]
        assert mine, name
        assert sum(t["max_score"] for t in mine) == pytest.approx(points)
        assert r["criteria"][name]["score"] == pytest.approx(sum(t["score"] for t in mine))
    assert r["score"] == pytest.approx(sum(c["score"] for c in r["criteria"].values()))
    lost = {n for n, c in r["criteria"].items() if c["score"] < c["max_score"]}
    assert lost == {"he_variance", "symmetry_check", "constant"}
    # partial credit: the constant init fails only for the negative value
    assert 0 < r["criteria"]["constant"]["score"] < CRITERIA["constant"]


def test_messages_are_actionable_and_show_no_hidden_code(graded):
    messages = [t["message"] for r in graded.values() for t in r["tests"] if t["outcome"] != "passed"]
    hidden = _hidden_source_lines()
    for m in messages:
        assert m
        assert not any(line in m for line in hidden), m
        assert "Traceback" not in m or "<cell" in m     # only the student's own frames
    faulty = {t["name"]: t["message"] for t in graded["faulty"]["tests"]}
    assert "initialize_he: variance is" in faulty["test_he_variance[400-100]"]
    assert "is 1/fan_in (LeCun)" in faulty["test_he_variance[400-100]"]
    assert "initialize_constant raised ValueError: negative values are not supported" in \
        faulty["test_constant[3-2-value-1.25]"]
    assert "biases b1 differ" in faulty["test_is_layer_symmetric[same-W-different-biases]"]


def test_same_submission_same_result(host, notebooks, graded):
    again = grade_notebook(notebooks["faulty"], host=host)
    strip = lambda r: [(t["name"], t["outcome"], t["score"], t["message"]) for t in r["tests"]]  # noqa: E731
    assert strip(again) == strip(graded["faulty"])
    in_process = grade_notebook(notebooks["faulty"], student_factory=InProcessStudent)
    assert strip(in_process) == strip(graded["faulty"])
    assert in_process["isolation"] == "none"


@pytest.mark.parametrize("name", ["solution", "faulty", "release"])
def test_runner_agrees_with_real_pytest(tmp_path, notebooks, graded, name):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(COURSE.hidden_tests), "--submission", str(notebooks[name]),
         "--results-json", str(out), "-p", "no:cacheprovider", "-q", "-rN"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    from_pytest = json.loads(out.read_text())
    ours = graded[name]
    assert [(t["name"], t["criterion"], t["outcome"], t["message"]) for t in from_pytest["tests"]] == \
        [(t["name"], t["criterion"], t["outcome"], t["message"]) for t in ours["tests"]]
    assert from_pytest["criteria"] == ours["criteria"]
    assert from_pytest["score"] == pytest.approx(ours["score"])
    # pytest's own output: the per-criterion summary, and no hidden test code
    assert "initkit score by criterion" in proc.stdout
    assert "total" in proc.stdout
    hidden = _hidden_source_lines()
    leaked = [line for line in hidden if line in proc.stdout]
    assert not leaked, leaked[:5]
    assert proc.returncode == (0 if name == "solution" else 1)


def test_bad_file_is_an_error_result(tmp_path):
    bad = tmp_path / "submitted" / "alice" / "init_symmetry" / "init_symmetry.ipynb"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"cells": [')
    r = grade_notebook(bad)
    assert r["status"] == "error" and r["score"] == 0 and r["tests"] == []
    assert r["student"] == "alice"
    assert str(bad) in r["error"] and "JSON" in r["error"]
    assert list(r["criteria"]) == list(CRITERIA)
    assert all(c["score"] == 0 for c in r["criteria"].values())


def test_student_name():
    assert student_name("x/submitted/bob/init_symmetry/nb.ipynb", "init_symmetry") == "bob"
    assert student_name("elsewhere/carol.ipynb", "init_symmetry") == "carol"


def test_timeout_costs_only_its_criterion(tmp_path):
    path = tmp_path / "loop.ipynb"
    nbformat.write(make_submission({"compute_cost": '''def compute_cost(AL, Y):
    while True:
        pass
'''}), str(path))
    r = grade_notebook(path, limits=Limits(call_timeout=1.0))
    lost = {n for n, c in r["criteria"].items() if c["score"] < c["max_score"]}
    assert lost == {"cost"}
    cost = [t for t in r["tests"] if t["criterion"] == "cost"]
    assert {t["outcome"] for t in cost} == {"timeout"}
    assert "compute_cost took longer than 1 s (time limit)" in cost[0]["message"]


def test_undefined_function_message(tmp_path):
    nb = make_submission()
    for cell in nb.cells:
        if cell.cell_type == "code" and "def update_parameters" in cell.source:
            cell.source = cell.source.replace("def update_parameters", "def update_params")
    path = tmp_path / "renamed.ipynb"
    nbformat.write(nb, str(path))
    r = grade_notebook(path, student_factory=InProcessStudent)
    update = [t for t in r["tests"] if t["criterion"] == "update"]
    assert update and all("update_parameters is not defined in your notebook" in t["message"] for t in update)
    # gradient_equality uses the student's update too
    assert r["criteria"]["gradient_equality"]["score"] == 0
    assert {n for n, c in r["criteria"].items() if c["score"] < c["max_score"]} == {"update", "gradient_equality"}


# --------------------------------------------------------------------------- runner details

def test_runner_collects_every_criterion_with_pytest_names():
    tests = collect.load_tests(COURSE)
    assert {t.criterion for t in tests} == set(CRITERIA)
    names = [t.name for t in tests]
    assert len(names) == len(set(names))
    assert "test_he_variance[400-100]" in names and "test_random_seed" in names
    assert collect.load_tests(COURSE) is tests       # imported once per process


def test_unexpected_exception_in_a_test_is_a_generic_error():
    def test_broken(student):
        raise KeyError("secret hidden detail")

    t = collect.HiddenTest("test_broken", "x.py", "zeros", test_broken, {}, ("student",))
    outcome, message = runner.run_test(t, student=None, trusted={"ref": None})
    assert outcome == "error"
    assert "secret" not in message and "KeyError" in message


# --------------------------------------------------------------------------- reference

def test_reference_comes_from_the_source_notebook():
    ref = reference(COURSE)
    for name in CONTRACT:
        assert callable(getattr(ref, name))
    assert reference(COURSE) is ref


def _notebook(tmp_path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / "source.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_reference_skips_experiments_and_test_cells_and_names_missing_functions(tmp_path):
    from initkit.solutions import solution_functions

    code = nbformat.v4.new_code_cell
    experiment = code("raise RuntimeError('experiment ran')\ndef f():\n    pass")
    experiment.metadata["tags"] = ["experiment"]
    test_cell = code("def helper():\n    pass\nassert False, 'test cell ran'")
    test_cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "zeros", "points": 5}
    functions = solution_functions(COURSE)
    cells = [code("import numpy as np\n%matplotlib inline"), code("import numpy as np"), experiment, test_cell,
             code("def sigmoid(Z):\n    return 1 / (1 + np.exp(-Z))\n\ndef relu(Z):\n    return np.maximum(0, Z)"),
             nbformat.v4.new_markdown_cell("def not_code(): pass")]
    cells += [code(src) for src in functions.values()]
    ref = load_reference(_notebook(tmp_path, cells))
    assert {"initialize_he", "sigmoid"} <= set(vars(ref))
    cells = [c for c in cells if "def " not in c.source]
    with pytest.raises(ReferenceNotebookError, match=r"source\.ipynb.*defines no functions"):
        load_reference(_notebook(tmp_path, cells))
    failing = [code("import numpy as np"), code("def f():\n    pass\nraise ValueError('boom')")]
    with pytest.raises(ReferenceNotebookError, match=r"source\.ipynb.*failed: ValueError: boom"):
        load_reference(_notebook(tmp_path, failing))


def test_hidden_tests_live_in_the_course():
    assert COURSE.hidden_tests == REPO / "autograder" / ASSIGNMENT
    assert (COURSE.hidden_tests.parent / "conftest.py").is_file()    # pytest autograder/<a> ...


def test_the_instructors_given_code_runs_whatever_the_file_says(tmp_path):
    """As nbgrader's OverwriteCells before `nbgrader autograde`: a locked given cell runs the
    instructor's source, so both ways of grading see the same code."""
    nb = make_submission()
    given = [c for c in nb.cells if c.cell_type == "code" and "def sigmoid" in c.source
             and c.metadata.get("nbgrader", {}).get("locked")]
    assert given, "the release has sigmoid in a locked given cell"
    given[0].source = "import numpy as np\ndef sigmoid(Z):\n    return np.zeros_like(Z)\n" + \
        "def relu(Z):\n    return np.zeros_like(Z)\n"
    path = tmp_path / "edited_given.ipynb"
    nbformat.write(nb, str(path))
    r = grade_notebook(path, student_factory=InProcessStudent)
    assert r["score"] == MAX_SCORE, [t for t in r["tests"] if t["outcome"] != "passed"][:3]
