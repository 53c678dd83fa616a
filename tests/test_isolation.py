"""Isolation is chosen at the edge and fails closed: `initkit grade` on a machine where bubblewrap
cannot start refuses (one line naming --isolation none) and grades nothing; with `--isolation
none` it grades and every result says so; `initkit demo` (the course's own examples) runs either
way. bubblewrap's absence is simulated by hiding `bwrap` from the sandbox's lookup; the grading
workers are forked, so they see the same."""

from __future__ import annotations

import json
import shutil

import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course
from initkit import cli
from initkit.reports.tables import read_grades_json
from initkit.sandbox import host as sandbox_host

EXAMPLES = REPO / "examples" / ASSIGNMENT / "submitted"


@pytest.fixture
def no_bubblewrap(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(sandbox_host.shutil, "which",
                        lambda name, *a, **k: None if name == "bwrap" else real(name, *a, **k))


@pytest.fixture
def course(tmp_path):
    root = copy_real_course(tmp_path / "course")
    for student in ("correct", "he_uses_1_over_fan_in"):
        shutil.copytree(EXAMPLES / student, root / "submitted" / student)
    return root


def test_grade_without_bubblewrap_refuses_unless_isolation_none(course, tmp_path, no_bubblewrap, capsys):
    out = tmp_path / "out"
    code = cli.main(["grade", str(course), "--out", str(out), "--quiet", "--no-gradebook",
                     "--workers", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.count("\n") == 0 and "--isolation none" in err and "bwrap is not installed" in err
    assert not (out / "grades.json").exists()

    code = cli.main(["grade", str(course), "--out", str(out), "--quiet", "--no-gradebook",
                     "--workers", "1", "--isolation", "none"])
    assert code == 0, capsys.readouterr().err
    results = read_grades_json(out / "grades.json")
    assert {r["student"]: r["isolation"] for r in results} == {
        "correct": "none", "he_uses_1_over_fan_in": "none"}


def test_grade_one_without_bubblewrap_refuses(no_bubblewrap, capsys):
    notebook = EXAMPLES / "correct" / ASSIGNMENT / "init_symmetry.ipynb"
    assert cli.main(["grade-one", str(notebook), "--course", str(REPO)]) == 1
    assert "--isolation none" in capsys.readouterr().err
    assert cli.main(["grade-one", str(notebook), "--course", str(REPO), "--json",
                     "--isolation", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["isolation"] == "none"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_grade_isolates_with_bubblewrap_by_default(course, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["grade", str(course), "--out", str(out), "--quiet", "--no-gradebook",
                     "--workers", "1", "--student", "correct"]) == 0
    results = read_grades_json(out / "grades.json")
    assert [r["isolation"] for r in results] == ["bubblewrap"]
