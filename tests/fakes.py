"""A fake course and a fake grader, shared by the batch, report and CLI tests.

The fake course has the real criteria and points (one answer and one autograded test cell per
criterion, one written answer) but no hidden tests; `fake_grade` stands in for the real grader:
fast, driven by the notebook's metadata, and able to crash, hang or press Ctrl-C on demand.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import nbformat

from initkit import api
from initkit.course import Course
from initkit.grading.result import error_result

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "init_symmetry"
CRITERIA = Course.open(REPO, ASSIGNMENT).criteria       # the real course's criteria and points
TITLES = Course.open(REPO, ASSIGNMENT).titles           # ... and their titles (grade_id -> title)
EXAMPLES = REPO / "examples" / ASSIGNMENT / "submitted"

# What each shipped example loses: the share of each criterion's points it fails (its failing
# tests' share of that criterion's tests). A property of the example and the hidden tests, not
# of the points, so an instructor's re-weighting keeps every expected score right.
EXAMPLE_LOSSES = {
    "correct": {}, "correct_written_differently": {},
    "cost_missing_1_over_m": {"cost": 3 / 4},
    "he_uses_1_over_fan_in": {"he_variance": 3 / 4},
    "infinite_loop": {"symmetry_check": 1},      # in the sandbox: after two timeouts, never called again
    "symmetry_check_ignores_bias": {"symmetry_check": 1 / 7},
    "tiled_random_rows": {"random": 1 / 2, "xavier_variance": 3 / 4, "he_variance": 3 / 4,
                          "symmetry_breaking": 1},
    "untouched_stub": {"backward_gradients": 1, "gradient_equality": 1},
    "zero_init_only": {"random": 3 / 4, "xavier_variance": 3 / 4, "he_variance": 3 / 4,
                       "symmetry_breaking": 1},
}


def _he_line() -> str:
    from initkit.reports.tables import num

    points = CRITERIA["he_variance"]
    return (f"initkit: {num(points / 4)} / {num(points)} points for {TITLES['he_variance']} "
            "[he_variance] (1 of 4 checks passed)")


# What the he_uses_1_over_fan_in example's he_variance test cell says (1 of its 4 checks passes).
HE_LINE = _he_line()


def example_score(example: str, course: Course | None = None) -> float:
    """The score `example` gets from `course` (default: this repository's) as grades round it."""
    criteria = (course or Course.open(REPO, ASSIGNMENT)).criteria
    if example == "broken_upload":
        return 0.0
    shares = EXAMPLE_LOSSES[example]
    return round(sum(round(p * (1 - shares.get(n, 0)), 6) for n, p in criteria.items()), 6)
MAX_SCORE = sum(CRITERIA.values())


# --------------------------------------------------------------------------- a fake course


def source_notebook(points: dict[str, float] | None = None) -> nbformat.NotebookNode:
    """A minimal nbgrader source notebook: one answer + one test cell per criterion, one written answer."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Initialization"))
    for name, pts in {**CRITERIA, **(points or {})}.items():
        answer = nbformat.v4.new_code_cell(
            f"def f_{name}():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n")
        answer.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                       "grade_id": f"{name}_answer", "schema_version": 3}
        test = nbformat.v4.new_code_cell(f"assert f_{name}() == 1")
        test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                     "grade_id": name, "points": pts, "schema_version": 3}
        nb.cells += [answer, test]
    written = nbformat.v4.new_markdown_cell("YOUR ANSWER HERE")
    written.metadata["nbgrader"] = {"grade": True, "solution": True, "locked": False,
                                    "grade_id": "written_constant", "points": 5, "schema_version": 3}
    nb.cells.append(written)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def make_course(root: Path, points: dict[str, float] | None = None) -> Path:
    """A course folder: config, source notebook, an (empty) hidden tests package, submitted/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'initkit-test'\n")
    src = root / "source" / ASSIGNMENT / "init_symmetry.ipynb"
    src.parent.mkdir(parents=True)
    nbformat.write(source_notebook(points), str(src))
    (root / "autograder" / ASSIGNMENT).mkdir(parents=True)
    (root / "autograder" / "__init__.py").write_text('"""The fake grader needs no hidden tests."""\n')
    (root / "autograder" / ASSIGNMENT / "__init__.py").write_text('"""None here either."""\n')
    (root / "submitted").mkdir()
    return root


def fake_submission(fail=(), crash=False, hang=False, interrupt=False, note="", sleep=0.0) -> str:
    """Notebook text the fake grader understands (its metadata says what to fail)."""
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(f"# my answer {note}\nx = 1 < 2  # <b>escaped</b>")
    code.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "zeros_answer",
                                 "locked": False, "schema_version": 3}
    given = nbformat.v4.new_code_cell("GIVEN_INSTRUCTOR_CODE = 1")
    given.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": True,
                                  "grade_id": "given", "schema_version": 3}
    nb.cells = [code, given, nbformat.v4.new_code_cell("added_by_student = 3")]
    nb.metadata["fake"] = {"fail": list(fail), "crash": crash, "hang": hang, "interrupt": interrupt,
                           "sleep": sleep}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    return nbformat.writes(nb)


def add(course: Path, student: str, content: str | bytes, name: str = "init_symmetry.ipynb") -> Path:
    path = course / "submitted" / student / ASSIGNMENT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def fake_grade(hand_in, course, *, host=None, limits=None) -> dict:
    """Stands in for grading.grade_notebook: same result shape, driven by notebook metadata."""
    log = os.environ.get("INITKIT_FAKE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{hand_in.student}\n")
    student = hand_in.student
    try:
        nb = json.loads(hand_in.data.decode("utf-8"))
        fake = nb["metadata"]["fake"]
    except (ValueError, KeyError, TypeError) as exc:
        return error_result(student, hand_in.name, course.criteria, f"{hand_in.name}: not a notebook: {exc}")
    if fake["crash"]:
        os._exit(3)
    if fake["hang"]:
        time.sleep(3600)
    time.sleep(fake.get("sleep", 0.0))     # a submission that takes a while to grade
    if fake["interrupt"]:
        os.kill(os.getppid(), signal.SIGINT)  # what Ctrl-C does to the parent
    tests, criteria = [], {}
    for name, pts in course.criteria.items():
        ok = name not in fake["fail"]
        criteria[name] = {"score": float(pts if ok else 0), "max_score": pts}
        tests.append({"name": f"test_{name}", "criterion": name,
                      "outcome": "passed" if ok else "failed", "score": float(pts if ok else 0),
                      "max_score": pts, "message": "" if ok else f"{name}: wrong <value>"})
    score = sum(c["score"] for c in criteria.values())
    code = [[i, c["source"] if isinstance(c["source"], str) else "".join(c["source"])]
            for i, c in enumerate(nb["cells"]) if c.get("metadata", {}).get("nbgrader", {}).get("solution", True)]
    return {"student": student, "notebook": hand_in.name, "status": "graded", "score": score,
            "max_score": course.max_score, "criteria": criteria, "tests": tests, "cell_errors": [],
            "isolation": "none", "duration": 0.01, "error": None,
            "notes": [hand_in.note] if hand_in.note else [], "student_code": code,
            "digest": hand_in.digest}


fake_grade.uses_course_tests = False     # the fake course has no hidden tests to load


def raising_grade(hand_in, course, *, host=None, limits=None) -> dict:
    """A grader with a bug: it raises for every submission."""
    raise RuntimeError("boom")


raising_grade.uses_course_tests = False


def run(course: Path, out_dir: Path | None = None, **kw):
    """`initkit grade` on the fake course with the fake grader (grading and reports), into
    `out_dir` (default: the course's out/)."""
    kw.setdefault("grade", fake_grade)
    kw.setdefault("host_factory", None)
    kw.setdefault("progress", False)
    kw.setdefault("workers", 2)
    kw.setdefault("gradebook", False)
    return api.grade(Course.open(course, ASSIGNMENT), out_dir or course / "out", **kw)


def scores(summary) -> dict:
    return {r["student"]: (r["status"], r["score"], {n: c["score"] for n, c in r["criteria"].items()})
            for r in summary.results}



def calls(course: Path) -> list[str]:
    log = Path(os.environ["INITKIT_FAKE_LOG"])
    return sorted(log.read_text().split()) if log.exists() else []


def copy_real_course(root: Path) -> Path:
    """A copy of this repository's course (config, source, release, hidden tests), with an empty
    submitted/: for end-to-end tests with the real autograder."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in (f"source/{ASSIGNMENT}", f"release/{ASSIGNMENT}", "autograder"):
        shutil.copytree(REPO / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (root / "submitted").mkdir()
    return root


def broken_host(limits):
    """A worker host factory that fails as bubblewrap does without user namespaces."""
    raise RuntimeError("bwrap: No permissions to creating new namespace")


def jupyter_env(tmp: Path) -> dict[str, str]:
    """The environment for nbgrader's and Jupyter's command lines in a test: no Jupyter config of
    the machine (config, data and runtime folders under `tmp`), and this venv's bin on PATH
    (nbgrader runs `alembic` to create a gradebook, even when the venv is not activated)."""
    import sys

    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (tmp / "jupyter" / name).mkdir(parents=True, exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "jupyter" / "config"),
               JUPYTER_DATA_DIR=str(tmp / "jupyter" / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp / "jupyter" / "runtime"),
               JUPYTER_NO_CONFIG="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("JUPYTER_CONFIG_PATH", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def report_files(out: Path) -> dict[str, bytes]:
    """Every report file under `out` (not the cache, not databases), by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "cache" not in p.parts and p.suffix != ".db"}


def gradebook_scores(url: str) -> dict:
    """(student, grade cell) -> (auto score, submission timestamp) in the gradebook at `url`."""
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id="initkit-test") as gb:
        return {(s.student.id, g.name): (g.auto_score, s.timestamp)
                for s in gb.assignment_submissions(ASSIGNMENT) for g in s.notebooks[0].grades}
