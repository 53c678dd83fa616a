"""End to end, as an instructor uses the kit: a regular (non-editable) `pip install` of initkit into
a fresh virtual environment, then `initkit grade <course>` run from a third folder on a course that
lives somewhere else. The package must grade the course it is given, with that course's hidden
tests and points, and refuse clearly (exit 2, one line) a course it cannot grade.

How the environment is made, and why:
- The project is copied to a temporary folder first: pip builds a local project in place, and
  setuptools writes build/ and initkit.egg-info/ into the folder it builds (checked), which must
  not happen to the checkout.
- `python -m venv --without-pip` makes the new environment; a .pth file in its site-packages
  holds one plain path, the site-packages of the interpreter running this test, so initkit's
  dependencies (numpy, nbgrader, ...) and pip itself are importable there without downloading
  or building them (the system Python does not have them, so `--system-site-packages` would not
  do). Paths added by a .pth line are not processed as site folders, so the .pth files in that
  folder are not run: the editable install of the checkout (its import finder) stays inactive,
  and `import initkit` in the new environment finds nothing until it is installed (checked).
- `<venv>/bin/python -m pip install --no-deps <copy>`: what the instructor ran. pip builds the
  wheel with build isolation, so it needs setuptools>=68 and wheel (pyproject's build-system)
  from the package index or pip's cache; `--no-build-isolation` would use the test venv's
  setuptools, which here is older than required and has no `wheel`. pip sees the test venv's
  editable initkit through the .pth and says "Not uninstalling ... outside environment": it
  never touches that environment.
- Every command runs from a folder of its own, with an environment without PYTHONPATH or
  VIRTUAL_ENV, and the test checks that initkit is imported from the new venv's site-packages.
About 30 s on 2 cores: the install 4-8 s, the two grading runs 15-20 s, the error cases 2 s.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from fakes import CRITERIA, EXAMPLE_LOSSES, example_score
from initkit.reports.tables import num

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "init_symmetry"
NOTEBOOK = "init_symmetry.ipynb"

# `initkit demo` on the example submissions shipped in examples/<assignment>/submitted:
# student -> (score as grades.csv shows it, status), from the course's points.
EXAMPLE_GRADES = {e: (float(num(example_score(e))), "error" if e == "broken_upload" else "graded")
                  for e in [*EXAMPLE_LOSSES, "broken_upload"]}

# `initkit grade`'s exit status when every submission has its row but some rows are errors (a
# broken upload): "graded, with errors" (docs/submissions.md).
DONE_WITH_ERRORS = 3

_NO_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                     "*.pyc", ".pytest_cache", ".ipynb_checkpoints")
# Outputs of nbgrader and of grading runs at the root of the checkout (.gitignore).
_ROOT_OUTPUTS = {"submitted", "autograded", "feedback", "demo-output", "grading-output",
                 "gradebook.db", ".nbgrader.log"}


def _project_files(folder: str, names: list[str]) -> set[str]:
    """For copytree: leave out build products, caches, the venv and the root's grading outputs."""
    ignored = set(_NOT_SOURCE(folder, names))
    if Path(folder) == REPO:
        ignored |= _ROOT_OUTPUTS & set(names)
    return ignored


def _env(venv: Path) -> dict:
    """The environment of a fresh shell with nothing of this checkout or its venv in it."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "INITKIT_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    test_venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != test_venv_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return env


def _run(args, cwd: Path, venv: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=_env(venv), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _shown(proc: subprocess.CompletedProcess) -> str:
    return (f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-4000:]}")


def _purelib(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                         cwd="/")
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new venv with initkit installed from a copy of this project: `pip install <repo>`."""
    base = tmp_path_factory.mktemp("install")
    project = base / "project"
    shutil.copytree(REPO, project, ignore=_project_files)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _purelib(venv / "bin" / "python")
    deps = Path(sysconfig.get_paths()["purelib"])          # the test interpreter's site-packages
    (site / "_initkit_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()

    python = venv / "bin" / "python"
    probe = _run([python, "-c", "import initkit"], elsewhere, venv)
    assert probe.returncode != 0, "initkit importable before it is installed:\n" + _shown(probe)
    pip = _run([python, "-m", "pip", "install", "--no-deps", project], elsewhere, venv)
    assert pip.returncode == 0, "pip install failed:\n" + _shown(pip)
    return venv


def _copy_course(dest: Path) -> Path:
    """The course, somewhere else: config, source, release, hidden tests and, as its submitted/,
    the example submissions."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", dest)
    for folder in ("source", "release", "autograder"):
        shutil.copytree(REPO / folder, dest / folder, ignore=_NO_CACHES)
    shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted", dest / "submitted", ignore=_NO_CACHES)
    return dest


def _grade(venv: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    return _run([venv / "bin" / "initkit", "grade", *args, "--quiet", "--no-gradebook"], cwd, venv)


def _grades_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def test_installed_initkit_grades_the_course_it_is_given(venv, tmp_path):
    course = _copy_course(tmp_path / "courses" / "ml101")
    cwd = tmp_path / "instructor"
    cwd.mkdir()

    # The package imported is the installed copy, not this checkout.
    python = venv / "bin" / "python"
    which = _run([python, "-c", "import initkit; print(initkit.__file__)"], cwd, venv)
    assert which.returncode == 0, _shown(which)
    imported = Path(which.stdout.strip()).resolve()
    assert imported == _purelib(python).resolve() / "initkit" / "__init__.py"
    assert REPO not in imported.parents
    script = (venv / "bin" / "initkit").read_text(encoding="utf-8").splitlines()[0]
    assert script == f"#!{python}", script

    # What the instructor ran. broken_upload makes it a run "done, with errors".
    proc = _grade(venv, cwd, course, "--assignment", ASSIGNMENT, "--out", "out")
    assert proc.returncode == DONE_WITH_ERRORS, _shown(proc)
    rows = _grades_csv(cwd / "out" / "grades.csv")
    got = {s: (float(r["score"]), r["status"]) for s, r in rows.items()}
    assert got == {s: (float(score), status) for s, (score, status) in EXAMPLE_GRADES.items()}, \
        _shown(proc)
    assert {r["max_score"] for r in rows.values()} == {num(sum(CRITERIA.values()))}
    assert rows["cost_missing_1_over_m"]["cost"] == num(CRITERIA["cost"] / 4)

    # The course decides: re-weight a criterion in the copy's source notebook (cost: 5 -> 7
    # points) and add a hidden test to the copy's autograder/ (criterion cost, always passes).
    results = json.loads((cwd / "out" / "grades.json").read_text(encoding="utf-8"))["submissions"]
    cost_tests = [t for r in results if r["student"] == "cost_missing_1_over_m"
                  for t in r["tests"] if t["criterion"] == "cost"]
    passed, total = sum(t["outcome"] == "passed" for t in cost_tests), len(cost_tests)
    assert (passed, total) == (1, 4), cost_tests

    source = course / "source" / ASSIGNMENT / NOTEBOOK
    nb = json.loads(source.read_text(encoding="utf-8"))
    cost_cells = [c for c in nb["cells"]
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cost"]
    before = CRITERIA["cost"]
    assert len(cost_cells) == 1 and cost_cells[0]["metadata"]["nbgrader"]["points"] == before
    after = before + 2                                       # the re-weighting
    cost_cells[0]["metadata"]["nbgrader"]["points"] = after
    source.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (course / "autograder" / ASSIGNMENT / "test_only_in_this_course.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.criterion('cost')\n"
        "def test_only_in_this_course():\n"
        "    pass\n", encoding="utf-8")

    some = tmp_path / "some-submissions"
    for student in ("correct", "cost_missing_1_over_m", "he_uses_1_over_fan_in"):
        shutil.copytree(course / "submitted" / student, some / student)
    proc = _grade(venv, cwd, course, "--assignment", ASSIGNMENT, "--out", "out-reweighted",
                  "--submissions", some)
    assert proc.returncode == 0, _shown(proc)                 # every submission graded
    rows = _grades_csv(cwd / "out-reweighted" / "grades.csv")
    full = sum(CRITERIA.values()) + after - before
    cost = after * (passed + 1) / (total + 1)                # the new test passes too
    expected = {
        "correct": (full, "graded", after),
        "cost_missing_1_over_m": (full - after + cost, "graded", cost),
        "he_uses_1_over_fan_in": (full - CRITERIA["he_variance"] * EXAMPLE_LOSSES[
            "he_uses_1_over_fan_in"]["he_variance"], "graded", after),
    }
    got = {s: (float(r["score"]), r["status"], float(r["cost"])) for s, r in rows.items()}
    assert got.keys() == expected.keys(), got
    for student, (score, status, cost_score) in expected.items():
        assert got[student] == (pytest.approx(score, abs=1e-3), status,
                                pytest.approx(cost_score, abs=1e-3)), (student, got[student])
    assert {r["max_score"] for r in rows.values()} == {num(full)}
    results = json.loads((cwd / "out-reweighted" / "grades.json").read_text(encoding="utf-8"))
    correct = next(r for r in results["submissions"] if r["student"] == "correct")
    assert "test_only_in_this_course" in {t["name"] for t in correct["tests"]}


def _not_a_course(base: Path) -> tuple[list, Path, str]:
    folder = base / "just-a-folder"
    (folder / "source" / ASSIGNMENT).mkdir(parents=True)       # no nbgrader_config.py
    return [folder, "--assignment", ASSIGNMENT], folder, "nbgrader_config.py"


def _cwd_not_a_course(base: Path) -> tuple[list, Path, str]:
    return ["--assignment", ASSIGNMENT], base / "cwd", "not an nbgrader course"


def _no_hidden_tests(base: Path) -> tuple[list, Path, str]:
    course = _copy_course(base / "course")
    shutil.rmtree(course / "autograder")
    return [course, "--assignment", ASSIGNMENT], course / "autograder", "hidden tests"


def _no_such_assignment(base: Path) -> tuple[list, Path, str]:
    course = _copy_course(base / "course")
    missing = course / "source" / "init_symetry"
    return [course, "--assignment", "init_symetry"], missing, "no such assignment"


def _no_autograded_cells(base: Path) -> tuple[list, Path, str]:
    course = _copy_course(base / "course")
    source = course / "source" / ASSIGNMENT / NOTEBOOK
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta and cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            meta["grade"] = False
            meta.pop("points", None)
    source.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return [course, "--assignment", ASSIGNMENT], source, "no autograded test cells"


def _empty_hidden_tests(base: Path) -> tuple[list, Path, str]:
    course = _copy_course(base / "course")
    shutil.rmtree(course / "autograder")
    (course / "autograder").mkdir()
    return [course, "--assignment", ASSIGNMENT], course / "autograder", "hidden tests"


@pytest.mark.parametrize("make", [
    _not_a_course, _cwd_not_a_course, _no_hidden_tests, _no_such_assignment, _no_autograded_cells,
    _empty_hidden_tests,
], ids=lambda f: f.__name__.strip("_"))
def test_a_course_that_cannot_be_graded_is_one_clear_line(venv, tmp_path, make):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args, where, what = make(tmp_path)
    proc = _grade(venv, cwd, *args, "--out", "out")
    assert proc.returncode == 2, _shown(proc)
    assert proc.stdout == "", _shown(proc)                     # never a table of zeros
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("initkit grade: error: "), _shown(proc)
    assert str(where.resolve()) in err and what in err, _shown(proc)
    assert not (cwd / "out" / "grades.csv").exists()
