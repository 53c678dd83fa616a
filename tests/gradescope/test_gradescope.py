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

from fakes import CRITERIA, ASSIGNMENT, REPO, example_score
from initkit import api, cli
from initkit.bundle import CourseBundle
from initkit.course import Course, CourseError
from initkit.gradescope import build_autograder
from initkit.gradescope import run as gs_run
from initkit.gradescope.late import LatePolicy, LatePolicyError, lateness
from initkit.gradescope.results import VISIBILITIES, failure_results

FULL = sum(CRITERIA.values())      # the course's autograded points
EXAMPLES = REPO / "examples" / ASSIGNMENT / "submitted"
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
    assert config["isolation"] == "auto" and "sandbox" not in config
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
    assert cli.main(["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", str(tmp_path / "a.zip"),
                     "--late-policy", "10 percent"]) == 2
    assert cli.main(["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", str(tmp_path / "a.zip"),
                     "--python", "3.10"]) == 2
    assert not (tmp_path / "a.zip").exists()
    assert cli.main(["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", str(tmp_path / "b.zip"),
                     "--visibility", "after_published", "--late-policy", "5/hour,max=50"]) == 0
    config = json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("gradescope.json"))
    assert config["visibility"] == "after_published" and config["isolation"] == "auto"
    assert config["late_policy"] == {"percent": 5.0, "period": "hour", "max_percent": 50.0,
                                     "grace_minutes": 0.0}


def test_isolation_option(course, tmp_path, capsys):
    """--isolation replaces --require-bubblewrap: recorded in gradescope.json, described after the
    build; anything else fails the build."""
    for isolation, says in (("bubblewrap", "required: where it cannot start, submissions are not "
                                           "graded"),
                            ("none", "never bubblewrap"), ("auto", "bubblewrap where it starts")):
        zip_path = tmp_path / f"{isolation}.zip"
        assert cli.main(["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", str(zip_path),
                         "--isolation", isolation]) == 0
        config = json.loads(zipfile.ZipFile(zip_path).read("gradescope.json"))
        assert config["isolation"] == isolation and "sandbox" not in config
        assert f"isolation {isolation}: {says}" in capsys.readouterr().out
    for bad in (["--isolation", "namespaces"], ["--require-bubblewrap"]):
        with pytest.raises(SystemExit) as exited:
            cli.main(["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", str(tmp_path / "bad.zip"), *bad])
        assert exited.value.code == 2
    with pytest.raises(CourseError, match="--isolation 'namespaces'"):
        build_autograder(course, tmp_path / "bad.zip", isolation="namespaces")
    assert not (tmp_path / "bad.zip").exists()


# --------------------------------------------------------------------------- grading


@pytest.mark.slow
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
        assert [t["name"] for t in results["tests"]] == [course.title(n) for n in course.criteria]
        assert {t["name"]: t["score"] for t in results["tests"]} == \
            {course.title(n): c["score"] for n, c in row["criteria"].items()}, variant
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
            cost = next(t for t in results["tests"] if t["name"] == course.title("cost"))
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
    (root / "source" / "course" / "autograder" / ASSIGNMENT / "conftest.py").write_text("raise ImportError('x')\n")
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


def test_a_bug_while_grading_is_the_submissions_error_row(built, tmp_path, monkeypatch, caplog):
    """An exception while grading goes through the wrapper the local pool and the cluster use
    (grading.result.grade_or_error_row): score 0 and the reason for the student, the traceback
    in the instructor's log."""
    from initkit.grading import grade

    def bug(*args, **kwargs):
        raise RuntimeError("boom")

    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    monkeypatch.setattr(grade, "grade_hand_in", bug)
    with caplog.at_level("ERROR", logger="initkit"):
        results = grade_in_process(root)
    check_results(results, str(tmp_path))
    assert results["score"] == 0 and results["extra_data"]["initkit"]["status"] == "error"
    assert f"{NOTEBOOK}: internal grading error: RuntimeError: boom" in results["output"]
    assert f"{NOTEBOOK}: internal grading error" in caplog.text and "Traceback" in caplog.text


def test_setup_check_passes_on_a_good_autograder(built):
    _, source = built
    proc = subprocess.run([VENV_PYTHON, "-m", "initkit.gradescope.run", "--check", "--source",
                           str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "init_symmetry, 12 criteria" in proc.stdout or "criteria" in proc.stdout
    assert re.search(r"^isolation: (bubblewrap|none)", proc.stdout, re.M), proc.stdout


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


def extracted(course, base: Path, **options) -> Path:
    """The zip built with `options`, extracted as in /autograder/source."""
    autograder = build_autograder(course, base / "autograder.zip", **options)
    source = base / "source"
    zipfile.ZipFile(autograder.path).extractall(source)
    return source


def without_bwrap(monkeypatch, tmp_path) -> None:
    """bwrap is not on PATH: where bubblewrap is required, the sandbox refuses to start."""
    empty = tmp_path / "no-bwrap-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_required_bubblewrap_that_cannot_start_writes_no_results(course, tmp_path, monkeypatch,
                                                                 capsys):
    """Built with --isolation bubblewrap where bubblewrap cannot start: the submission is not
    graded at all. No results.json (not even an old one), the reason in the instructor's log and
    exit status UNGRADED: never a grade of 0 the student would see."""
    source = extracted(course, tmp_path / "zip", isolation="bubblewrap")
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    out = root / "results" / "results.json"
    out.parent.mkdir()
    out.write_text('{"score": 100}')                    # an earlier run's
    without_bwrap(monkeypatch, tmp_path)
    assert gs_run.main(["--root", str(root)]) == gs_run.UNGRADED == 75
    assert not out.exists()
    log = capsys.readouterr().out
    assert "NOT GRADED: this autograder requires bubblewrap" in log
    assert "bwrap is not installed" in log and "Regrade" in log
    # The check at build time only warns (the image is built elsewhere than it grades).
    assert gs_run.main(["--check", "--source", str(source)]) == 0
    assert "isolation: WARNING: this autograder requires bubblewrap" in capsys.readouterr().out
    # Still graded (0 and why) when what the student uploaded cannot be graded anyway.
    (root / "submission" / NOTEBOOK).unlink()
    results = grade_in_process(root)
    assert results["score"] == 0 and "the folder is empty" in results["output"]


def test_auto_without_bwrap_grades_with_isolation_none_and_says_why(built, course, tmp_path,
                                                                    monkeypatch, capsys):
    """The default (auto) where bubblewrap cannot start: graded with isolation "none", the same
    score, and the log says why. No library code sets an environment variable."""
    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("cost_missing_1_over_m")})
    without_bwrap(monkeypatch, tmp_path)
    before = dict(os.environ)
    results = grade_in_process(root)
    assert dict(os.environ) == before
    check_results(results, str(tmp_path))
    assert results["extra_data"]["initkit"]["isolation"] == "none"
    assert results["score"] == example_score("cost_missing_1_over_m")
    log = capsys.readouterr().out
    assert "isolation: none (auto): bubblewrap cannot start in this container (" in log
    assert "bwrap is not installed" in log
    assert "grading with isolation 'none': the container is the boundary" in log


def test_isolation_none_chosen_at_build(course, tmp_path, capsys):
    source = extracted(course, tmp_path / "zip", isolation="none")
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    before = dict(os.environ)
    results = grade_in_process(root)
    assert dict(os.environ) == before
    check_results(results, str(tmp_path))
    assert results["extra_data"]["initkit"]["isolation"] == "none" and results["score"] == FULL
    assert "isolation: none (chosen when the autograder was built)" in capsys.readouterr().out


def fake_python(tmp_path: Path, status: int, writes_results: bool = False) -> Path:
    """A stand-in for initkit's Python in run_autograder: exits with `status`."""
    script = tmp_path / f"python-{status}"
    body = 'echo \'{"score": 1, "tests": []}\' > "$INITKIT_GRADESCOPE_ROOT/results/results.json"\n' \
        if writes_results else ""
    script.write_text(f"#!/bin/sh\necho initkit ran\n{body}exit {status}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("status, graded", [(75, False), (2, True), (1, True), (0, True)])
def test_run_autograder_script_passes_on_ungraded(built, tmp_path, status, graded):
    """run_autograder: exit status 75 (required bubblewrap cannot start) -> no results.json, no
    fallback 0, a non-zero exit (Gradescope: "The autograder failed to execute correctly"). Any
    other status without results -> the fallback 0 as before (argparse's 2 too)."""
    _, source = built
    root = make_root(tmp_path, source, {NOTEBOOK: example("correct")})
    env = {**os.environ, "INITKIT_GRADESCOPE_ROOT": str(root),
           "INITKIT_PYTHON": str(fake_python(tmp_path, status, writes_results=status == 75))}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, cwd=root)
    out = root / "results" / "results.json"
    assert "initkit ran" in proc.stdout
    if graded:
        assert proc.returncode == 0
        results = json.loads(out.read_text())
        assert results["score"] == 0 and "could not start" in results["output"]
    else:
        assert proc.returncode == 75 and not out.exists()
        assert "Regrade" in proc.stderr


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
    assert results["score"] == pytest.approx(0.8 * FULL)  # 2 started days late: 20 % off
    assert sum(t["score"] for t in results["tests"]) == FULL
    assert "2 started days late, 20% off" in results["output"]
    assert results["extra_data"]["initkit"]["score_before_late_penalty"] == FULL
    # An extension for the submitter: on time.
    metadata["users"][0]["assignment"] = {"due_date": "2026-03-04T00:00:00-08:00"}
    (root / "submission_metadata.json").write_text(json.dumps(metadata))
    results = grade_in_process(root)
    assert results["score"] == FULL and "late" not in results["output"].lower()


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
                "--unsetenv", "INITKIT_GRADESCOPE_ROOT"]
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
    isolation "none" and the same score, and the log says why; with --isolation bubblewrap it is
    not graded at all: no results.json and run_autograder fails (Gradescope tells the student the
    autograder failed; the instructor reruns it), never a 0. (This machine's Python may sit in a
    folder only root can enter, as pyenv's under /root: the student process then needs
    CAP_DAC_READ_SEARCH to start, which Docker does not give; Gradescope's image has Python in
    /usr and /opt, readable by all: see test_hidden_tests_are_unreadable_to_student_code...)"""
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

    strict = extracted(course, tmp_path / "strict", isolation="bubblewrap")
    root = make_root(tmp_path / "required", strict, {NOTEBOOK: example("correct")})
    proc = run_at_slash_autograder(root, caps)
    assert proc.returncode == gs_run.UNGRADED, proc.stdout + proc.stderr
    assert not (root / "results" / "results.json").exists()
    assert "NOT GRADED: this autograder requires bubblewrap" in proc.stdout
    assert "Creating new namespace failed" in proc.stdout
    assert "writing a score of 0" not in proc.stderr


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


# ------------------------------------------- isolation "none": what student code can read


@pytest.mark.parametrize("euid, readable, keeps", [(0, True, False), (0, False, True),
                                                   (1000, False, False), (1000, True, False)])
def test_student_keeps_the_read_capability_only_for_a_python_only_root_can_read(
        monkeypatch, euid, readable, keeps):
    """Isolation "none" as root: the student's uid keeps CAP_DAC_READ_SEARCH (and could then read
    every file, the hidden tests included) only when the interpreter or sys.base_prefix is not
    world-readable (pyenv under /root). setup.sh's Python (apt's, in /usr; the venv a+rX) is, so
    on Gradescope the capability is dropped."""
    from initkit.sandbox import Limits
    from initkit.sandbox import bwrap

    asked = []

    def world_readable(*paths):
        asked.append(paths)
        return readable

    monkeypatch.setattr(bwrap, "_world_readable", world_readable)
    monkeypatch.setattr(bwrap.os, "geteuid", lambda: euid)
    argv, _ = bwrap.zygote_command("none", Limits(isolation="none"), 3, "/tmp/scratch")
    cfg = json.loads(argv[-1])
    assert cfg["keep_read_cap"] is keeps
    assert (cfg["uid"] is None) == (euid != 0)
    if euid == 0:
        assert asked == [(os.path.realpath(sys.executable), sys.base_prefix)]


PROBE = """\
import json as _json, os as _os


def _initkit_probe(path):
    try:
        if _os.path.isdir(path):
            _os.listdir(path)
        else:
            with open(path, "rb") as _file:
                _file.read(64)
        return "read"
    except Exception as _exc:
        return type(_exc).__name__


_report = {_name: _initkit_probe(_path) for _name, _path in TARGETS.items()}
_report["uid"] = _os.getuid()
with open(OUT, "w") as _file:
    _json.dump(_report, _file)
"""


@pytest.fixture(scope="module")
def setup_like_python():
    """The Python of a venv laid out like setup.sh's: made from a Python installed readable by all
    (the distribution's /usr/bin/python3.X, as setup.sh's apt install), then `chmod -R a+rX`.
    Instead of pip installing from PyPI (test_fresh_venv_installs_the_wheel_and_grades does), a
    .pth adds this venv's site-packages, so the same minor version is needed. In a folder of /tmp
    that everyone can enter (pytest's tmp_path is root's only)."""
    import sysconfig
    import tempfile

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    candidates = [p for p in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")
                  if os.path.exists(p) and _world_readable(p)]
    if not candidates:
        pytest.skip(f"no world-readable python{version} (e.g. apt-get install python{version} "
                    f"python{version}-venv)")
    if not all(_world_readable(p) for p in ours):
        pytest.skip("this venv's site-packages are not readable by all")
    base = Path(tempfile.mkdtemp(prefix="initkit-setup-like-"))
    try:
        base.chmod(0o755)
        venv = base / "venv"
        made = subprocess.run([candidates[0], "-m", "venv", "--without-pip", str(venv)],
                              capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"{candidates[0]} -m venv failed: {made.stderr[-500:]}")
        python = venv / "bin" / "python"
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True).stdout.strip()
        (Path(site) / "initkit-test-deps.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        probe = subprocess.run([str(python), "-c", "import sys, initkit, numpy, nbgrader, pytest; "
                                "print(sys.base_prefix)"], capture_output=True, text=True, cwd=base)
        if probe.returncode != 0:
            pytest.skip(f"{candidates[0]} cannot load this venv's packages: {probe.stderr[-500:]}")
        assert _world_readable(probe.stdout.strip()) and _world_readable(str(python))
        yield python
    finally:
        shutil.rmtree(base, ignore_errors=True)


@bubblewrap_only
@pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root")
@pytest.mark.parametrize("caps", [DOCKER_CAPS, DOCKER_CAPS + ("DAC_READ_SEARCH",)],
                         ids=["docker", "docker+dac_read_search"])
def test_hidden_tests_are_unreadable_to_student_code_without_bubblewrap(
        built, course, tmp_path, setup_like_python, caps):
    """Gradescope as it is: root in a container with Docker's capabilities (bubblewrap cannot
    start, auto falls back to isolation "none"), Python where setup.sh installs it (readable by
    all), the course `go-rwx` as setup.sh leaves it. A cell of the submission tries to read the
    hidden tests, their folder and the solution from /autograder/source/course: every attempt is
    a PermissionError (the student's uid is not root and has no capability), while a file readable
    by all (gradescope.json) is read: the probe did run. Also with CAP_DAC_READ_SEARCH in the
    container's set: the student process does not keep it, because the Python is world-readable.
    The cell writes what it got into a folder everyone may write."""
    import nbformat

    _, source = built
    setup = (source / "setup.sh").read_text()       # what this test reproduces
    assert "\nchmod -R a+rX /opt/initkit\n" in setup and "\nchmod -R go-rwx course\n" in setup
    assert 'packages=("$python" ' in setup and '\n"$python" -m venv /opt/initkit\n' in setup
    out = setup_like_python.parents[2] / f"probe-{len(caps)}"
    out.mkdir()
    out.chmod(0o777)
    hidden = sorted((source / "course" / "autograder" / ASSIGNMENT).glob("test_*.py"))[0].name
    targets = {"hidden test": f"/autograder/source/course/autograder/{hidden}",
               "hidden tests folder": "/autograder/source/course/autograder",
               "conftest": "/autograder/source/course/autograder/conftest.py",
               "solution": f"/autograder/source/course/source/{ASSIGNMENT}/{NOTEBOOK}",
               "course folder": "/autograder/source/course",
               "readable by all": "/autograder/source/gradescope.json"}
    notebook = nbformat.read(example("correct"), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"TARGETS = {targets!r}\nOUT = {str(out / 'probe.json')!r}\n" + PROBE))
    root = make_root(tmp_path, source, {NOTEBOOK: nbformat.writes(notebook).encode()})
    subprocess.run(["chmod", "-R", "go-rwx", str(root / "source" / "course")], check=True)

    proc = run_at_slash_autograder(root, caps, python=str(setup_like_python))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    results = json.loads((root / "results" / "results.json").read_text())
    check_results(results, str(tmp_path))
    assert results["extra_data"]["initkit"]["isolation"] == "none", log
    assert "bubblewrap cannot start in this container" in proc.stdout
    assert results["score"] == course.max_score, log          # the probe cell changes nothing
    report = json.loads((out / "probe.json").read_text())
    assert report.pop("uid") != 0
    assert report.pop("readable by all") == "read"
    assert report == {name: "PermissionError" for name in report}, report


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


# --------------------------------------------------------------------------- titles


def test_test_names_are_the_criteria_titles(course):
    """Gradescope shows each criterion by the title set in the notebook, not its grade_id."""
    from initkit.gradescope.results import gradescope_results
    from initkit.grading.result import make_result

    tests = [{"name": f"test_{c}[0]", "criterion": c, "outcome": "passed", "score": 0.0,
              "max_score": 0.0, "message": ""} for c in course.criteria]
    result = make_result("s", NOTEBOOK, course.criteria, status="graded", tests=tests,
                         cell_errors=[], isolation="bwrap", duration=1.0, error=None)
    titles = [course.title(n) for n in course.criteria]
    assert course.title("xavier_variance") == "Xavier initialization: variance"
    assert all(t != n for t, n in zip(titles, course.criteria))
    results = gradescope_results(result, course)
    check_results(results)
    assert [t["name"] for t in results["tests"]] == titles
    parts = results["output"].split("Parts:\n", 1)[1]
    assert all(title in parts for title in titles) and "xavier_variance" not in parts
    assert [t["name"] for t in failure_results("no notebook", course)["tests"]] == titles
