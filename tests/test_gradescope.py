"""`initkit gradescope`: the autograder zip, the wheel inside it, run_autograder and results.json.

Everything real: a zip built from this course, run_autograder (bash) and the run module grading
the example submissions in the kit's sandbox, a folder bound at /autograder with bubblewrap, and
(slow) a fresh venv that installs the wheel from the zip with its dependencies from PyPI.

results.json is checked against the fields Gradescope documents
(https://gradescope-autograders.readthedocs.io/en/latest/specs/).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, REPO
from initkit import api, cli
from initkit.bundle import CourseBundle
from initkit.course import Course
from initkit.gradescope import build_autograder
from initkit.gradescope import run as gs_run
from initkit.gradescope.late import LatePolicy, LatePolicyError, lateness
from initkit.gradescope.results import VISIBILITIES, failure_results

EXAMPLES = REPO / "examples" / "submitted"
NOTEBOOK = "init_symmetry.ipynb"
VENV_PYTHON = sys.executable

# Gradescope's documented fields.
TOP_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format",
              "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
              "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
               "output_format", "tags", "visibility", "extra_data"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}

bubblewrap_only = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap not installed")


def check_results(results: dict, *forbidden: str) -> None:
    """results.json as Gradescope documents it, with nothing of the grader's in it."""
    assert set(results) <= TOP_FIELDS, set(results) - TOP_FIELDS
    assert isinstance(results["score"], (int, float)) and results["score"] >= 0
    assert isinstance(results["output"], str) and results["output"].strip()
    assert results.get("output_format", "text") in FORMATS
    assert results.get("test_output_format", "text") in FORMATS
    assert results.get("visibility", "visible") in VISIBILITIES
    assert results["stdout_visibility"] == "hidden"        # the grader's log is the instructor's
    if "execution_time" in results:
        assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert {"name", "score", "max_score", "status", "output"} <= set(test)
        assert test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"] + 1e-9
        assert test.get("visibility", "visible") in VISIBILITIES
    shown = results["output"] + "\n".join(t["output"] + t["name"] for t in results["tests"])
    # Never hidden-test code or names, never a grader path.
    for pattern in (r"\btest_\w+", r"\bdef \w+\(", r"\bassert\b", r"@pytest", r"Traceback \(most",
                    r"site-packages", r"/autograder\b", r"\.py\b"):
        assert not re.search(pattern, shown), (pattern, shown)
    for text in (*forbidden, str(REPO)):
        assert text not in shown


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def course() -> Course:
    return Course.open(REPO, ASSIGNMENT)


@pytest.fixture(scope="module")
def built(tmp_path_factory, course):
    """The default autograder (zip) and its contents extracted, as in /autograder/source."""
    base = tmp_path_factory.mktemp("gradescope")
    autograder = build_autograder(course, base / "autograder.zip")
    source = base / "source"
    with zipfile.ZipFile(autograder.path) as archive:
        archive.extractall(source)
    for name in ("setup.sh", "run_autograder"):
        (source / name).chmod(0o755)
    return autograder, source


def make_root(base: Path, source: Path, files: dict[str, bytes | Path] = {},
              metadata: dict | None = None) -> Path:
    """An /autograder folder: source/ (the zip's contents), submission/ with `files`."""
    root = base / "autograder"
    shutil.copytree(source, root / "source", symlinks=True)
    for name in ("setup.sh", "run_autograder"):     # zipfile.extractall drops the modes
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir(parents=True)
    for name, content in files.items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


def grade_in_process(root: Path) -> dict:
    assert gs_run.main(["--root", str(root)]) == 0
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))


def example(variant: str) -> Path:
    return EXAMPLES / variant / ASSIGNMENT / NOTEBOOK


# --------------------------------------------------------------------------- the zip


def test_zip_layout(built, course, tmp_path):
    autograder, source = built
    names = set(zipfile.ZipFile(autograder.path).namelist())
    bundle = {f"course/{name}" for name, _ in CourseBundle.of(course).files}
    assert names == {"setup.sh", "run_autograder", autograder.wheel, "gradescope.json",
                     "course/nbgrader_config.py"} | bundle
    for info in zipfile.ZipFile(autograder.path).infolist():
        mode = info.external_attr >> 16 & 0o777
        assert mode == (0o755 if info.filename in ("setup.sh", "run_autograder") else 0o644)
    for name in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(source / name)]).returncode == 0
        text = (source / name).read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and not re.search(r"@[A-Z_]+@", text)
    setup = (source / "setup.sh").read_text()
    assert "set -euo pipefail" in setup and "python3.11" not in setup.split("python=")[0]
    assert "bubblewrap" in setup and f"./{autograder.wheel}" in setup
    config = json.loads((source / "gradescope.json").read_text())
    assert config == autograder.config
    assert config["visibility"] == "visible" and config["late_policy"] is None
    # The same course and options give the same bytes.
    again = build_autograder(course, tmp_path / "again.zip")
    assert again.path.read_bytes() == autograder.path.read_bytes()
    assert Course.open(source / "course", ASSIGNMENT).criteria == course.criteria


def test_wheel_is_complete_and_its_record_matches(built):
    autograder, source = built
    with zipfile.ZipFile(source / autograder.wheel) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        record = wheel.read(f"{dist_info}/RECORD").decode().splitlines()
        assert len(record) == len(names)
        for line in record:
            name, digest, size = line.rsplit(",", 2)
            if name.endswith("/RECORD"):
                assert digest == size == ""
                continue
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data)
        metadata = wheel.read(f"{dist_info}/METADATA").decode()
        wheel_meta = wheel.read(f"{dist_info}/WHEEL").decode()
    assert "Root-Is-Purelib: true" in wheel_meta and "Tag: py3-none-any" in wheel_meta
    assert re.search(r"^Name: initkit$", metadata, re.M)
    assert "Requires-Python: >=3.11" in metadata
    for dependency in ("numpy", "nbgrader", "pytest", "jinja2"):
        assert re.search(rf"^Requires-Dist: {dependency}\b", metadata, re.M)
    for needed in ("initkit/gradescope/run.py", "initkit/gradescope/templates/run_autograder",
                   "initkit/sandbox/inside/zygote.py", "initkit/reports/templates/feedback.html.j2"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert f"{dist_info}/entry_points.txt" in names


def test_bad_options_fail_the_build(course, tmp_path):
    assert cli.main(["gradescope", str(REPO), "-o", str(tmp_path / "a.zip"),
                     "--late-policy", "10 percent"]) == 2
    assert cli.main(["gradescope", str(REPO), "-o", str(tmp_path / "a.zip"),
                     "--python", "3.10"]) == 2
    assert not (tmp_path / "a.zip").exists()
    assert cli.main(["gradescope", str(REPO), "-o", str(tmp_path / "b.zip"),
                     "--visibility", "after_published", "--late-policy", "5/hour,max=50"]) == 0
    config = json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("gradescope.json"))
    assert config["visibility"] == "after_published"
    assert config["late_policy"] == {"percent": 5.0, "period": "hour", "max_percent": 50.0,
                                     "grace_minutes": 0.0}


# --------------------------------------------------------------------------- grading


def test_scores_equal_initkit_grade_on_every_example(built, course, tmp_path):
    """Each example graded by `initkit grade` and by the autograder: the same score, criterion by
    criterion; the broken upload is 0 with an explanation. One upload is renamed, as browsers do."""
    _, source = built
    summary = api.grade(course, tmp_path / "out", submissions_dir=EXAMPLES, gradebook=False,
                        autograded=False, progress=False, workers=2)
    expected = {r["student"]: r for r in summary.results}
    assert len(expected) == len(list(EXAMPLES.iterdir())) >= 10
    for variant, row in sorted(expected.items()):
        name = "init_symmetry (1).ipynb" if variant == "correct" else NOTEBOOK
        root = make_root(tmp_path / variant, source, {name: example(variant)})
        results = grade_in_process(root)
        check_results(results, str(tmp_path))
        assert results["score"] == row["score"], variant
        assert [t["name"] for t in results["tests"]] == list(course.criteria)
        assert {t["name"]: t["score"] for t in results["tests"]} == \
            {n: c["score"] for n, c in row["criteria"].items()}, variant
        assert sum(t["max_score"] for t in results["tests"]) == course.max_score
        if row["status"] == "error":
            assert results["score"] == 0
            assert "could not be graded" in results["output"]
            assert all(t["output"].startswith("Not graded") for t in results["tests"])
        else:
            assert results["extra_data"]["initkit"]["isolation"] == row["isolation"]
        if variant == "correct":
            assert "Graded init_symmetry (1).ipynb" in results["output"]
            assert all(t["status"] == "passed" for t in results["tests"])
        if variant == "cost_missing_1_over_m":
            cost = next(t for t in results["tests"] if t["name"] == "cost")
            assert cost["status"] == "failed" and "divide by m" in cost["output"]
            assert cost["output"].startswith("Passed 1 of 4 checks.")


@pytest.mark.parametrize("files, says", [
    ({}, "the folder is empty"),
    ({"notes.txt": b"hi", "answer.R": b"x <- 1"}, "no notebook (.ipynb) in the submission folder (found: answer.R, notes.txt)"),
    ({"a.ipynb": b"{}", "b.ipynb": b"{}"}, "2 notebooks (a.ipynb, b.ipynb) and none named"),
    ({"work/init_symmetry.ipynb": b"{}"}, "found inside folders: work/init_symmetry.ipynb"),
])
def test_no_notebook_or_several_give_zero_and_say_why(built, course, tmp_path, files, says):
    _, source = built
    results = grade_in_process(make_root(tmp_path, source, files))
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and says in results["output"]
    assert NOTEBOOK in results["output"]                     # what to upload instead
    assert [t["score"] for t in results["tests"]] == [0.0] * len(course.criteria)


def test_a_broken_autograder_still_writes_results(built, course, tmp_path):
    """A course whose hidden tests cannot load (the build's check would have said so): every
    submission gets 0 and a message, never Gradescope's 'autograder failed'; the traceback goes
    to the instructor's log."""
    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    (root / "source" / "course" / "autograder" / "conftest.py").write_text("raise ImportError('x')\n")
    results = grade_in_process(root)
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and "problem on our side" in results["output"]
    assert len(results["tests"]) == len(course.criteria)
    # Nothing loadable at all: still a results.json.
    (root / "source" / "gradescope.json").write_text("not json")
    results = grade_in_process(root)
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and results["tests"] == []
    code = subprocess.run([VENV_PYTHON, "-m", "initkit.gradescope.run", "--check", "--source",
                           str(root / "source")], capture_output=True, text=True)
    assert code.returncode == 1 and "check FAILED" in code.stderr


def test_setup_check_passes_on_a_good_autograder(built):
    _, source = built
    proc = subprocess.run([VENV_PYTHON, "-m", "initkit.gradescope.run", "--check", "--source",
                           str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "init_symmetry, 12 criteria" in proc.stdout or "criteria" in proc.stdout
    assert "sandbox: " in proc.stdout


def test_run_autograder_script_writes_results_even_without_python(built, tmp_path):
    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    env = {**os.environ, "INITKIT_GRADESCOPE_ROOT": str(root),
           "INITKIT_PYTHON": str(tmp_path / "no-such-python")}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and "could not start" in results["output"]


def test_visibility_and_late_policy(course, tmp_path):
    autograder = build_autograder(course, tmp_path / "late.zip", visibility="after_published",
                                  late_policy="10/day,max=25")
    source = tmp_path / "source"
    zipfile.ZipFile(autograder.path).extractall(source)
    metadata = {"created_at": "2026-03-03T10:00:00.000000-08:00",
                "assignment": {"due_date": "2026-03-01T23:59:00.000000-08:00",
                               "late_due_date": None, "total_points": "110.0"},
                "users": [{"email": "s@example.com", "id": 1, "name": "S"}],
                "previous_submissions": []}
    root = make_root(tmp_path / "late", source, {NOTEBOOK: example("correct")}, metadata)
    results = grade_in_process(root)
    check_results(results, str(tmp_path))
    assert results["visibility"] == "after_published"
    assert {t["visibility"] for t in results["tests"]} == {"after_published"}
    assert results["score"] == 80.0                       # 2 started days late: 20 % off 100
    assert sum(t["score"] for t in results["tests"]) == 100
    assert "2 started days late, 20% off" in results["output"]
    assert results["extra_data"]["initkit"]["score_before_late_penalty"] == 100
    # An extension for the submitter: on time.
    metadata["users"][0]["assignment"] = {"due_date": "2026-03-04T00:00:00-08:00"}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    results = grade_in_process(root)
    assert results["score"] == 100 and "late" not in results["output"].lower()


# --------------------------------------------------------------------------- the late policy


def test_late_policy_parsing():
    assert LatePolicy.parse("10/day") == LatePolicy(10, "day")
    assert LatePolicy.parse("2.5% / hours, max=50, grace=15") == LatePolicy(2.5, "hour", 50, 15)
    for bad in ("10", "ten/day", "10/month", "0/day", "150/day", "10/day,max=0", "10/day,foo=1",
                "10/day,max=5,max=6"):
        with pytest.raises(LatePolicyError):
            LatePolicy.parse(bad)


@pytest.mark.parametrize("submitted, penalty", [
    ("2026-03-01T23:59:00+00:00", 0),          # on the due date
    ("2026-03-01T22:00:00-01:00", 0),          # the same instant in another zone
    ("2026-03-02T00:10:00+00:00", 0),          # within the 15 minutes of grace
    ("2026-03-02T00:20:00+00:00", 10),         # 21 minutes: one started day
    ("2026-03-04T00:00:00+00:00", 30),         # 2 days and 1 minute: three started days
    ("2026-03-20T00:00:00+00:00", 50),         # capped
])
def test_late_penalty(submitted, penalty):
    policy = LatePolicy.parse("10/day,max=50,grace=15")
    metadata = {"created_at": submitted, "assignment": {"due_date": "2026-03-01T23:59:00Z"}}
    late = lateness(policy, metadata)
    assert late.penalty_percent == penalty
    assert bool(late.message) == bool(penalty)


def test_late_policy_without_times_gives_no_penalty():
    policy = LatePolicy.parse("10/day")
    for metadata in (None, {}, {"created_at": "yesterday"},
                     {"created_at": "2026-03-04T00:00:00", "assignment": {"due_date": None}}):
        late = lateness(policy, metadata)
        assert late.penalty_percent == 0 and "no penalty applied" in late.message


def test_failure_results_cut_paths():
    results = failure_results("cannot open /srv/grader/secret/course/x.ipynb")
    check_results(results)
    assert "x.ipynb" in results["output"] and "/srv" not in results["output"]


# --------------------------------------------------------------------------- /autograder itself


# Docker's default capabilities (Gradescope's autograders are Docker containers run as root):
# no CAP_SYS_ADMIN, so bubblewrap cannot make namespaces ("Creating new namespace failed:
# Operation not permitted"), as in a container.
DOCKER_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
               "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE")


def _world_readable(path: str) -> bool:
    real = Path(os.path.realpath(path))
    return all(os.stat(d).st_mode & 0o005 == 0o005 for d in [real, *real.parents])


def run_at_slash_autograder(root: Path, caps: tuple[str, ...] | None = None,
                            python: str = VENV_PYTHON) -> subprocess.CompletedProcess:
    """/autograder/run_autograder as Gradescope runs it (from /autograder, the default root), with
    `root` bound at /autograder in a new mount namespace whose root is a tmpfs holding binds of this
    machine's top-level folders (so no /autograder is created here). `caps`: the capabilities
    left (None: all of ours)."""
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    command = ["bwrap", "--die-with-parent"]
    for entry in sorted(os.listdir("/")):
        path = f"/{entry}"
        if entry in ("proc", "dev", "autograder"):
            continue
        if os.path.islink(path):
            command += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            command += ["--bind", path, path]
    command += ["--proc", "/proc", "--dev-bind", "/dev", "/dev", "--bind", str(root), "/autograder",
                "--chdir", "/autograder", "--setenv", "INITKIT_PYTHON", python,
                "--unsetenv", "INITKIT_GRADESCOPE_ROOT", "--unsetenv", "INITKIT_SANDBOX"]
    if caps is not None:
        command += ["--cap-drop", "ALL"] + [a for c in caps for a in ("--cap-add", f"CAP_{c}")]
    command += ["/autograder/run_autograder"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@bubblewrap_only
def test_run_autograder_at_slash_autograder_under_bubblewrap(built, course, tmp_path):
    """The kit's own sandbox (bubblewrap) starts inside, nested."""
    _, source = built
    root = make_root(tmp_path, source, {"init_symmetry (2).ipynb": example("zero_init_only")})
    proc = run_at_slash_autograder(root)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["score"] == api.grade_one(course, example("zero_init_only"))["score"]
    assert "results written to /autograder/results/results.json" in proc.stdout
    assert results["extra_data"]["initkit"]["isolation"] == "bubblewrap", proc.stdout


@bubblewrap_only
@pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root")
def test_in_a_container_without_namespaces_the_container_is_the_boundary(built, course, tmp_path):
    """With Docker's capabilities bubblewrap cannot start: the submission is graded with
    isolation "none" and the same score, and the log says why; with --require-bubblewrap it gets
    0 and a message instead. (This machine's Python may sit in a folder only root can enter, as
    pyenv's under /root: the student process then needs CAP_DAC_READ_SEARCH to start, which
    Docker does not give; Gradescope's image has Python in /usr and /opt, readable by all.)"""
    _, source = built
    caps = DOCKER_CAPS + ("DAC_READ_SEARCH",)
    root = make_root(tmp_path / "auto", source, {NOTEBOOK: example("he_uses_1_over_fan_in")})
    proc = run_at_slash_autograder(root, caps)
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["extra_data"]["initkit"]["isolation"] == "none", proc.stdout + proc.stderr
    assert "bubblewrap cannot start in this container" in proc.stdout
    assert "Creating new namespace failed" in proc.stdout
    assert results["score"] == api.grade_one(course, example("he_uses_1_over_fan_in"))["score"]

    strict = build_autograder(course, tmp_path / "strict.zip", require_bubblewrap=True)
    zipfile.ZipFile(strict.path).extractall(tmp_path / "strict")
    root = make_root(tmp_path / "required", tmp_path / "strict", {NOTEBOOK: example("correct")})
    run_at_slash_autograder(root, caps)
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and "problem on our side" in results["output"]


@bubblewrap_only
@pytest.mark.skipif(os.geteuid() != 0 or _world_readable(sys.base_prefix),
                    reason="needs root and a Python only root can read")
def test_a_sandbox_that_cannot_run_code_is_an_autograder_problem(built, tmp_path):
    """Isolation "none" as root drops student code to another uid; if that uid cannot read Python
    (here: pyenv under /root without CAP_DAC_READ_SEARCH), every cell would crash and a correct
    notebook would get 0 as if graded. The autograder checks a cell runs first: 0 and "a problem
    on our side" instead, never a wrong grade."""
    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    proc = run_at_slash_autograder(root, DOCKER_CAPS)
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and "problem on our side" in results["output"]
    assert "starts but cannot run a cell" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- slow: a fresh venv


@pytest.mark.slow
def test_fresh_venv_installs_the_wheel_and_grades(built, tmp_path):
    """setup.sh's install step in a fresh venv: `pip install <wheel from the zip>`, dependencies
    from PyPI; then run_autograder with that venv's Python grades a submission."""
    autograder, source = built
    venv = tmp_path / "venv"
    subprocess.run([VENV_PYTHON, "-m", "venv", str(venv)], check=True, cwd=tmp_path)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                              str(source / autograder.wheel)], capture_output=True, text=True,
                             cwd=tmp_path, env=env, timeout=1500)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    where = subprocess.run([str(python), "-c", "import initkit, sys; print(initkit.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    assert subprocess.run([str(venv / "bin" / "initkit"), "--help"], capture_output=True,
                          env=env).returncode == 0
    root = make_root(tmp_path, source, {NOTEBOOK: example("tiled_random_rows")})
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600,
                          env={**env, "INITKIT_GRADESCOPE_ROOT": str(root),
                               "INITKIT_PYTHON": str(python)})
    assert proc.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["extra_data"]["initkit"]["status"] == "graded", proc.stdout + proc.stderr
    assert results["score"] == 70
