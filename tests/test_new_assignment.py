"""A course of several assignments, made as docs/new-assignment.md says: a small second
assignment is added to a copy of the course (source notebook with its declared totals, hidden
tests, release), `initkit check` accepts it, and the two assignments grade side by side without
one touching the other's outputs."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest

from fakes import ASSIGNMENT, EXAMPLES, copy_real_course, example_score
from initkit import cli
from initkit.course import Course
from initkit.reports.tables import read_grades_json
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow
TINY = "tiny"


def _meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _tiny_source() -> nbformat.NotebookNode:
    """Step 1: read-only instructions and given code, an answer, its test cell (the criterion,
    10 points), a written answer (5 points), an experiment; the totals declared."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Doubling\n\nOne criterion (10 points) and one written answer.",
                             metadata=_meta("intro", locked=True)),
        v4.new_code_cell("import numpy as np\n\n\ndef factor():\n    return 2\n", metadata=_meta("given", locked=True)),
        v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return factor() * np.asarray(x)\n"
                         "    ### END SOLUTION\n", metadata=_meta("double_answer", solution=True)),
        v4.new_code_cell("assert np.all(double([1, 2]) == [2, 4])\nprint('visible checks passed')\n",
                         metadata=_meta("double", grade=True, locked=True, points=10)),
        v4.new_markdown_cell("Why is doubling linear?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                             metadata=_meta("why", grade=True, solution=True, points=5)),
        v4.new_code_cell("print(double(np.arange(1000)).sum())\n",
                         metadata={**_meta("experiment_sum", locked=True), "tags": ["experiment"]}),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata.update(kernelspec={"display_name": "Python 3", "language": "python", "name": "python3"},
                       initkit={"points": {"autograded": 10, "manual": 5}})
    return nb


HIDDEN = '''"""Hidden tests of the tiny assignment."""
import numpy as np
import pytest

from .. import _checks as c      # the helpers every assignment shares


@pytest.mark.criterion("double")
@pytest.mark.parametrize("x", [[0.5], [1.5, -2.0], list(range(1, 7))])
def test_double(student, ref, x):
    got = np.asarray(student.call("double", x))
    if got.shape != np.shape(x) or not np.allclose(got, ref.double(x)):
        c.fail(f"double({x}) gave {got}, expected twice the input")
'''


def _files(folder):
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".initkit.lock"}


def test_a_second_assignment_grades_beside_the_first(tmp_path, capsys):
    root = copy_real_course(tmp_path / "course")
    # 1. the source notebook; 2. the hidden tests
    (root / "source" / TINY).mkdir()
    nbformat.write(_tiny_source(), str(root / "source" / TINY / f"{TINY}.ipynb"))
    (root / "autograder" / TINY).mkdir()
    (root / "autograder" / TINY / "__init__.py").write_text('"""tiny"""\n')
    (root / "autograder" / TINY / "test_tiny.py").write_text(HIDDEN)
    # 3. the release
    assert cli.main(["release", str(root), "--assignment", TINY]) == 0
    # 6. the check (examples and audit are the next steps of the guide; not made here)
    capsys.readouterr()
    assert cli.main(["check", str(root), "--assignment", TINY, "--only", "totals", "--only",
                     "criteria", "--only", "release"]) == 0, capsys.readouterr().out
    assert "1 autograded criteria, 10 points; 5 points graded by hand" in capsys.readouterr().out
    # With two assignments, a command must be told which.
    assert cli.main(["grade", str(root), "--quiet"]) == 2
    assert f"several assignments ({ASSIGNMENT}, {TINY})" in capsys.readouterr().err

    # 7. grade: alice and bob hand in both assignments
    tiny = Course.open(root, TINY)
    wrong = nbformat.writes(make_submission(tiny, {"double": "def double(x):\n    return x\n"}))
    for student, notebook, example in (("alice", nbformat.writes(make_submission(tiny)), "correct"),
                                       ("bob", wrong, "he_uses_1_over_fan_in")):
        (root / "submitted" / student / TINY).mkdir(parents=True)
        (root / "submitted" / student / TINY / f"{TINY}.ipynb").write_text(notebook)
        shutil.copytree(EXAMPLES / example / ASSIGNMENT, root / "submitted" / student / ASSIGNMENT)

    first = ["grade", str(root), "--assignment", ASSIGNMENT, "--quiet", "--workers", "2"]
    assert cli.main(first) == 0
    out_first = root / "grading-output" / ASSIGNMENT
    before = _files(out_first)
    assert cli.main(["grade", str(root), "--assignment", TINY, "--quiet", "--workers", "2"]) == 0
    out_tiny = root / "grading-output" / TINY
    assert {r["student"]: r["score"] for r in read_grades_json(out_tiny / "grades.json")} == {
        "alice": 10, "bob": 0}
    assert (out_tiny / "feedback" / "bob" / TINY / f"{TINY}.html").is_file()
    assert _files(out_first) == before              # the first assignment's outputs untouched
    assert {r["student"]: r["score"] for r in read_grades_json(out_first / "grades.json")} == {
        "alice": example_score("correct"), "bob": example_score("he_uses_1_over_fan_in")}
    capsys.readouterr()
    assert cli.main(first) == 0                      # its cache too: nothing to grade again
    assert "2 graded now" not in capsys.readouterr().out
    assert (root / "autograded" / "bob" / TINY / f"{TINY}.ipynb").is_file()
    assert (root / "autograded" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()


def _reweight(source, points: dict[str, float]) -> None:
    """What an instructor does in Jupyter's Create Assignment toolbar: new points on test cells."""
    nb = nbformat.read(str(source), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") in points:
            meta["points"] = points[meta["grade_id"]]
    nbformat.write(nb, str(source))


def test_the_readme_instructor_block_passes_after_a_reweighting(tmp_path):
    """README "For instructors": re-weight a criterion (here cost +5, backward_gradients -5: the
    total stays), then the instructor block: the release and examples follow, `initkit check`
    passes, and so do the kit's own course and command-line tests run on that course."""
    import re
    import subprocess
    import sys

    from fakes import REPO

    root = tmp_path / "course"
    skip = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis",
                                  "grading-output", "demo-output", "gradebook.db")
    shutil.copytree(REPO, root, ignore=lambda folder, names: set(skip(folder, names)) | (
        {"submitted", "autograded", "feedback"} & set(names) if Path(folder) == REPO else set()))
    course = Course.open(root, ASSIGNMENT)
    _reweight(course.source_notebook, {"cost": course.criteria["cost"] + 5,
                                       "backward_gradients": course.criteria["backward_gradients"] - 5})
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"regenerate the student copy and check it:\n\n```bash\n(.*?)```", readme, re.S)
    assert block, "README: the instructor block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    bin_dir = f"{__import__('pathlib').Path(sys.executable).parent}"
    env = {**__import__("os").environ, "PATH": f"{bin_dir}:{__import__('os').environ['PATH']}"}
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=root, env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, (command, proc.stdout[-3000:], proc.stderr[-3000:])
    assert Course.open(root, ASSIGNMENT).criteria["cost"] == course.criteria["cost"] + 5
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_course.py", "tests/test_cli.py",
                           "-q", "-x", "-p", "no:cacheprovider"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:]
