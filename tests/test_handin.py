"""What students really hand in: the one rule that picks their notebook, and nothing outside their
folder is read (links, FIFOs, devices and directories are that student's clear error)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from fakes import CRITERIA, ASSIGNMENT, REPO, add, copy_real_course, fake_submission, make_course, run
from initkit import api
from initkit.course import Course
from initkit.handin import pick_notebook, read_hand_in, read_notebook_file
from initkit.submission import SubmissionError

NB = "init_symmetry.ipynb"


# --------------------------------------------------------------------------- the rule


def test_the_release_name_wins_over_stray_copies():
    name, note = pick_notebook([NB, "init_symmetry-Copy1.ipynb", "Untitled.ipynb", "notes.txt",
                                ".ipynb_checkpoints", ".~init_symmetry.ipynb"], NB, "f")
    assert name == NB
    assert note == ("Graded init_symmetry.ipynb; also in your folder and not graded: "
                    "Untitled.ipynb, init_symmetry-Copy1.ipynb.")


def test_a_single_renamed_notebook_is_graded_with_a_note():
    name, note = pick_notebook(["init_symmetry (1).ipynb", "timestamp.txt", ".ipynb_checkpoints"],
                               NB, "f")
    assert name == "init_symmetry (1).ipynb"
    assert "Graded init_symmetry (1).ipynb" in note and "named init_symmetry.ipynb" in note


def test_alone_and_right_no_note():
    assert pick_notebook([NB, "timestamp.txt"], NB, "f") == (NB, None)


@pytest.mark.parametrize("names, words", [
    ([], ["no notebook", "the folder is empty"]),
    (["answers.py", "notes.txt"], ["no notebook", "answers.py, notes.txt"]),
    ([".hidden.ipynb", ".ipynb_checkpoints"], ["no notebook"]),
    (["a.ipynb", "b.ipynb"], ["2 notebooks (a.ipynb, b.ipynb)", "none named init_symmetry.ipynb",
                              "rename"]),
])
def test_no_pick_is_a_clear_error_naming_what_was_found(names, words):
    with pytest.raises(SubmissionError) as info:
        pick_notebook(names, NB, "/c/submitted/ann/init_symmetry")
    assert str(info.value).startswith("/c/submitted/ann/init_symmetry: ")
    assert all(w in str(info.value) for w in words), str(info.value)


# --------------------------------------------------------------------------- nothing outside


@pytest.fixture
def submitted(tmp_path):
    root = tmp_path / "submitted"
    (root / "ann" / ASSIGNMENT).mkdir(parents=True)
    return root


def _folder(root):
    return root / "ann" / ASSIGNMENT


def test_a_regular_notebook_is_read(submitted):
    (_folder(submitted) / NB).write_bytes(b'{"cells": []}')
    (_folder(submitted) / "timestamp.txt").write_text("2024-05-01 10:00:00 UTC\n")
    got = read_hand_in(submitted, "ann", ASSIGNMENT, NB)
    assert (got.student, got.name, got.data, got.note) == ("ann", NB, b'{"cells": []}', None)
    assert got.timestamp == "2024-05-01 10:00:00 UTC"
    assert got.path == str(_folder(submitted) / NB)


def test_a_link_to_the_course_solutions_is_refused(submitted, tmp_path):
    secret = tmp_path / "source.ipynb"
    secret.write_text('{"instructor": "solutions"}')
    os.symlink(secret, _folder(submitted) / NB)
    with pytest.raises(SubmissionError, match="is a symbolic link"):
        read_hand_in(submitted, "ann", ASSIGNMENT, NB)


@pytest.mark.parametrize("where", ["student", "assignment"])
def test_linked_folders_are_refused(tmp_path, where):
    elsewhere = tmp_path / "elsewhere" / ASSIGNMENT
    elsewhere.mkdir(parents=True)
    (elsewhere / NB).write_text("{}")
    root = tmp_path / "submitted"
    if where == "student":
        root.mkdir()
        os.symlink(elsewhere.parent, root / "ann")
    else:
        (root / "ann").mkdir(parents=True)
        os.symlink(elsewhere, root / "ann" / ASSIGNMENT)
    with pytest.raises(SubmissionError, match="is a symbolic link"):
        read_hand_in(root, "ann", ASSIGNMENT, NB)


def test_a_fifo_is_refused_without_waiting(submitted):
    os.mkfifo(_folder(submitted) / NB)
    done = []
    worker = threading.Thread(target=lambda: done.append(_error(submitted)), daemon=True)
    worker.start()
    worker.join(5)
    assert done and "is a FIFO (named pipe), not a regular file" in done[0]


def test_a_directory_with_a_notebooks_name_is_refused(submitted):
    (_folder(submitted) / NB).mkdir()
    assert "is a directory, not a regular file" in _error(submitted)


def test_a_device_is_refused(submitted):
    try:
        os.mknod(_folder(submitted) / NB, 0o600 | 0o020000, os.makedev(1, 3))   # like /dev/null
    except PermissionError:
        pytest.skip("making a device node needs root")
    assert "is a character device, not a regular file" in _error(submitted)


def test_a_linked_timestamp_is_refused(submitted, tmp_path):
    (_folder(submitted) / NB).write_text("{}")
    os.symlink("/etc/hostname", _folder(submitted) / "timestamp.txt")
    assert "timestamp.txt: is a symbolic link" in _error(submitted)


def _error(root) -> str:
    try:
        read_hand_in(root, "ann", ASSIGNMENT, NB)
    except SubmissionError as exc:
        return str(exc)
    return "no error"


def test_a_swapped_in_link_is_caught_by_the_open_itself(submitted, tmp_path, monkeypatch):
    """The name is picked from the listing; a link put there before the open is still refused."""
    from initkit import handin

    (_folder(submitted) / NB).write_text("{}")
    secret = tmp_path / "secret.ipynb"
    secret.write_text("solutions")
    real_pick = handin.pick_notebook

    def pick_then_swap(names, expected, where):
        picked = real_pick(names, expected, where)
        os.unlink(_folder(submitted) / NB)
        os.symlink(secret, _folder(submitted) / NB)
        return picked

    monkeypatch.setattr(handin, "pick_notebook", pick_then_swap)
    assert "is a symbolic link" in _error(submitted)


def test_grade_one_refuses_a_link_too(tmp_path):
    target = tmp_path / "real.ipynb"
    target.write_text("{}")
    os.symlink(target, tmp_path / "link.ipynb")
    with pytest.raises(SubmissionError, match="link.ipynb: is a symbolic link"):
        read_notebook_file(tmp_path / "link.ipynb", "x")
    assert read_notebook_file(target, "x").data == b"{}"


# --------------------------------------------------------------------------- in a batch


def test_a_batch_of_messy_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    sub = course / "submitted"
    add(course, "copies", fake_submission(note="the right one"))
    add(course, "copies", fake_submission(fail=["cost"]), "init_symmetry-Copy1.ipynb")
    add(course, "copies", "{ broken", "Untitled.ipynb")
    add(course, "renamed", fake_submission(), "init_symmetry (1).ipynb")
    add(course, "linked", b"")
    os.unlink(sub / "linked" / ASSIGNMENT / NB)
    os.symlink(course / "source" / ASSIGNMENT / NB, sub / "linked" / ASSIGNMENT / NB)
    add(course, "fifo", b"")
    os.unlink(sub / "fifo" / ASSIGNMENT / NB)
    os.mkfifo(sub / "fifo" / ASSIGNMENT / NB)
    (sub / "stray-file.txt").write_text("not a student")
    started = time.monotonic()
    summary = run(course, gradebook=None)
    assert time.monotonic() - started < 60
    rows = {r["student"]: r for r in summary.results}
    assert sorted(rows) == ["copies", "fifo", "linked", "renamed"]
    assert rows["copies"]["score"] == sum(CRITERIA.values()) and rows["copies"]["notebook"] == NB
    assert "not graded: Untitled.ipynb, init_symmetry-Copy1.ipynb" in rows["copies"]["notes"][0]
    assert rows["renamed"]["score"] == sum(CRITERIA.values()) and rows["renamed"]["notebook"] == "init_symmetry (1).ipynb"
    assert rows["linked"]["status"] == "error" and "symbolic link" in rows["linked"]["error"]
    assert rows["fifo"]["status"] == "error" and "FIFO" in rows["fifo"]["error"]
    page = (course / "out" / "feedback" / "renamed" / ASSIGNMENT / "init_symmetry (1).html").read_text()
    assert "Graded init_symmetry (1).ipynb" in page


# --------------------------------------------------------------------------- one message per outcome

CORRECT = REPO / "examples" / ASSIGNMENT / "submitted" / "correct" / ASSIGNMENT / NB


def _says_graded(text: str) -> bool:
    return "Graded " in text


def test_one_outcome_per_folder_with_the_real_autograder(tmp_path):
    """The picked notebook is the only candidate: a link named like the release's beside a
    regular notebook is an error naming the link (never followed, the other never graded instead),
    and no row, page or grades.json says both "could not be graded" and "Graded X"; a note saying
    "Graded X" appears only where X was graded."""
    course = copy_real_course(tmp_path / "course")
    sub = course / "submitted"
    add(course, "linked", CORRECT.read_bytes(), "real.ipynb")
    os.symlink(course / "source" / ASSIGNMENT / NB, sub / "linked" / ASSIGNMENT / NB)
    add(course, "broken", b'{"cells": [')
    add(course, "broken", CORRECT.read_bytes(), "init_symmetry-Copy1.ipynb")
    elsewhere = tmp_path / "elsewhere.ipynb"
    elsewhere.write_bytes(CORRECT.read_bytes())
    (sub / "renamed_link" / ASSIGNMENT).mkdir(parents=True)
    os.symlink(elsewhere, sub / "renamed_link" / ASSIGNMENT / "init_symmetry (1).ipynb")
    add(course, "copies", CORRECT.read_bytes())
    add(course, "copies", b"{ stray", "Untitled.ipynb")
    out = tmp_path / "out"
    summary = api.grade(Course.open(course), out, workers=1, progress=False, gradebook=False)
    rows = {r["student"]: r for r in summary.results}
    assert sorted(rows) == ["broken", "copies", "linked", "renamed_link"]
    saved = {r["student"]: r for r in json.loads((out / "grades.json").read_text())["submissions"]}

    def page(student: str, stem: str = "init_symmetry") -> str:
        return (out / "feedback" / student / ASSIGNMENT / f"{stem}.html").read_text()

    for student, named in [("linked", f"{NB}: is a symbolic link"),
                           ("broken", f"{NB}: not valid JSON"),
                           ("renamed_link", "init_symmetry (1).ipynb: is a symbolic link")]:
        for r in (rows[student], saved[student]):
            assert r["status"] == "error" and r["score"] == 0, (student, r)
            assert named in r["error"], (student, r["error"])
            assert r["notes"] == [], (student, r["notes"])
        text = page(student)          # (an error row is filed under the release's name)
        assert "could not be graded" in text and not _says_graded(text), student
    assert "real.ipynb" not in rows["linked"]["error"]          # the link is the error, alone
    assert rows["copies"]["status"] == "graded" and rows["copies"]["score"] == sum(CRITERIA.values())
    assert saved["copies"]["notes"] == ["Graded init_symmetry.ipynb; also in your folder and not "
                                        "graded: Untitled.ipynb."]
    text = page("copies")
    assert _says_graded(text) and "could not be graded" not in text


def test_grade_hand_in_gives_no_graded_note_to_a_notebook_it_cannot_parse():
    """The route nbgrader's Autograde and every worker take: a picked notebook that is not a
    notebook is an error row without the hand-in's "Graded X" note."""
    from initkit.grading.grade import grade_hand_in
    from initkit.handin import HandIn

    hand_in = HandIn("ann", NB, b'{"cells": [', note="Graded init_symmetry.ipynb; also in your "
                     "folder and not graded: real.ipynb.", path=f"/x/ann/{ASSIGNMENT}/{NB}")
    result = grade_hand_in(hand_in, Course.open(REPO, ASSIGNMENT))
    assert result["status"] == "error" and "not valid JSON" in result["error"]
    assert result["notes"] == []


def test_a_row_turned_into_an_error_later_keeps_no_graded_note():
    """A graded row whose gradebook entry or page could not be written becomes an error row: its
    feedback says why, never also "Graded X" (other notes stay)."""
    from initkit.grading.result import as_error, make_result
    from initkit.reports.feedback import feedback_html

    course = Course.open(REPO, ASSIGNMENT)
    graded = make_result("ann", NB, course.criteria, status="graded", tests=[], cell_errors=[],
                         isolation="bubblewrap", duration=1.0, error=None,
                         notes=["Graded init_symmetry.ipynb; also in your folder and not graded: "
                                "Untitled.ipynb.", "Handed in late."], student_code=[(0, "x = 1")])
    row = as_error(graded, course.criteria, "could not record the grade in the gradebook: locked")
    assert row["notes"] == ["Handed in late."] and row["student_code"] == [[0, "x = 1"]]
    text = feedback_html(row, [(0, "x = 1")], course)
    assert "could not be graded" in text and not _says_graded(text) and "Handed in late." in text


def test_gradescope_a_linked_notebook_beside_a_real_one_is_one_error(tmp_path):
    """The Gradescope route: the same single outcome in results.json (no sandbox is started)."""
    from initkit.bundle import CourseBundle
    from initkit.gradescope import run as gs_run

    source = tmp_path / "autograder" / "source"
    CourseBundle.of(Course.open(REPO, ASSIGNMENT)).write(source / gs_run.COURSE)
    (source / gs_run.CONFIG).write_text(json.dumps({"format": 1, "assignment": ASSIGNMENT}))
    submission = tmp_path / "autograder" / "submission"
    submission.mkdir()
    (submission / "real.ipynb").write_bytes(CORRECT.read_bytes())
    os.symlink(REPO / "source" / ASSIGNMENT / NB, submission / NB)
    assert gs_run.run(tmp_path / "autograder") == 0
    results = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    assert results["score"] == 0
    assert "could not be graded" in results["output"] and "is a symbolic link" in results["output"]
    assert not _says_graded(results["output"]), results["output"]
