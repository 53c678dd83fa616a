"""The layouts a TA really has in the submissions folder, and what `initkit grade` says of each:
only `<submissions>/<student>/<assignment>/<notebook>.ipynb` is graded; anything else is a usage
error (exit 2, one line naming what was found and the layout expected), never "0 submissions"."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import ASSIGNMENT, add, fake_submission, make_course
from initkit import cli

NB = f"{ASSIGNMENT}.ipynb"



def _grade(course: Path, tmp_path: Path, *more: str) -> int:
    return cli.main(["grade", str(course), "--out", str(tmp_path / "out"), "--quiet",
                     "--no-gradebook", "--workers", "1", *more])


def _file(path: Path, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


LAYOUTS = {
    "flat LMS unzip": (lambda s: [_file(s / "alice_init_symmetry.ipynb"), _file(s / "bob.ipynb")],
                       ["2 notebook(s), none in a folder named init_symmetry",
                        "alice_init_symmetry.ipynb, bob.ipynb"]),
    "<student>/x.ipynb": (lambda s: [_file(s / "alice" / NB), _file(s / "bob" / "mine.ipynb")],
                          ["2 notebook(s)", f"alice/{NB}, bob/mine.ipynb"]),
    "Canvas's files unzipped": (lambda s: _file(s / f"doejane_LATE_101_9001_{NB}"),
                                ["1 notebook(s)", "look like Canvas's Download Submissions",
                                 "initkit collect canvas"]),
    "empty": (lambda s: _file(s / ".DS_Store"), ["the submissions folder is empty",
                                                 "initkit collect canvas"]),
    "missing": (lambda s: s.rmdir(), ["submissions folder not found"]),
    "other assignments only": (lambda s: _file(s / "alice" / "hw0" / "hw0.ipynb"),
                               ["no student folder has init_symmetry/", "they hold hw0"]),
    "Canvas's zip, not unzipped": (lambda s: _file(s / "submissions.zip"),
                                   ["no notebook (found: submissions.zip)", "initkit collect canvas"]),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_folder_in_another_layout_is_a_usage_error(tmp_path, capsys, fake_batch, layout):
    course = make_course(tmp_path / "course")
    make, words = LAYOUTS[layout]
    make(course / "submitted")
    assert _grade(course, tmp_path) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    submitted = course / "submitted"
    assert err.startswith(f"initkit grade: error: {submitted}: "), err
    assert f"expected {submitted}/<student>/{ASSIGNMENT}/{NB}" in err, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()                     # nothing written


def test_the_submissions_option_is_checked_the_same_way(tmp_path, capsys, fake_batch):
    course = make_course(tmp_path / "course")
    flat = tmp_path / "download"
    _file(flat / NB)
    assert _grade(course, tmp_path, "--submissions", str(flat)) == 2
    assert f"{flat}: 1 notebook(s)" in capsys.readouterr().err
    assert _grade(course, tmp_path, "--submissions", str(tmp_path / "nope")) == 2
    assert f"{tmp_path / 'nope'}: submissions folder not found" in capsys.readouterr().err


def test_students_with_other_assignments_only_are_not_in_the_batch(tmp_path, capsys, fake_batch):
    course = make_course(tmp_path / "course")
    add(course, "alice", fake_submission())
    _file(course / "submitted" / "bob" / "hw0" / "hw0.ipynb")        # another assignment
    _file(course / "submitted" / "notes.txt")
    assert _grade(course, tmp_path) == 0
    rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["alice"]


def test_grade_one_on_a_missing_file_is_a_usage_error(tmp_path, capsys):
    from fakes import REPO

    assert cli.main(["grade-one", str(tmp_path / "nope.ipynb"), "--course", str(REPO)]) == 2
    err = capsys.readouterr().err
    assert err == f"initkit grade-one: error: {tmp_path / 'nope.ipynb'}: no such file\n"
