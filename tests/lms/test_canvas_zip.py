"""`initkit collect canvas`: Canvas's "Download Submissions" zip into submitted/<user id>/<assignment>/,
what it refuses, and the round trip collect -> grade -> gradebook -> `initkit export canvas`.

The zips are built the way Canvas names its files: `<login>_[LATE_]<user id>_<submission id>_<name>`,
a file uploaded again gets `-1` before its extension.
"""

from __future__ import annotations

import csv
import io
import stat
import zipfile
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course, example_score, fake_submission, make_course
from initkit import api, cli
from initkit.course import Course, CourseError
from initkit.handin import NOTE_FILE
from initkit.lms.canvas_zip import LATE_NOTE, canvas_name, collect, read_canvas_zip
from initkit.lock import output_lock

NB = f"{ASSIGNMENT}.ipynb"
EXAMPLES = REPO / "examples" / ASSIGNMENT / "submitted"


def canvas_zip(path: Path, files: dict[str, bytes | str], folders: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in folders:
            z.writestr(name if name.endswith("/") else name + "/", "")
        for name, data in files.items():
            z.writestr(name, data)
    return path


def download(tmp_path: Path) -> Path:
    """Three students: one plain, one LATE with a `-1` re-upload and a second file, one renamed
    notebook; a stray file and a folder."""
    return canvas_zip(tmp_path / "submissions.zip", {
        f"doejane_101_9001_{NB}": fake_submission(),
        f"roebob_LATE_102_9002_{ASSIGNMENT}-1.ipynb": fake_submission(fail=["cost"]),
        "roebob_LATE_102_9002_notes.txt": "my notes",
        f"leecat_103_9003_{ASSIGNMENT} (1).ipynb": fake_submission(fail=["zeros"]),
        "readme.txt": "not a submission",
        "extra/doejane_101_9001_other.ipynb": "{}",
    }, folders=("extra",))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def test_canvas_names():
    parsed = canvas_name(f"doejane_LATE_12345_67890_{ASSIGNMENT}-2.ipynb")
    assert (parsed.login, parsed.user_id, parsed.submission_id, parsed.late, parsed.name,
            parsed.copy) == ("doejane", "12345", "67890", True, NB, 2)
    assert canvas_name(f"doejane_12345_67890_{NB}").name == NB
    assert not canvas_name(f"doejane_12345_67890_{NB}").late
    assert canvas_name("x_1_2_data-2024.csv").name == "data-2024.csv"      # not Canvas's -N
    assert canvas_name("x_1_2_a b-Copy1.ipynb").name == "a b-Copy1.ipynb"
    for other in (NB, "readme.txt", "doejane_12345_init_symmetry.ipynb", "a/b_1_2_c.ipynb"):
        assert canvas_name(other) is None, other


def test_download_into_the_layout(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    zip_path = download(tmp_path)
    assert cli.main(["collect", "canvas", str(zip_path), str(course), "--assignment", ASSIGNMENT]) == 0
    out = capsys.readouterr().out
    submitted = course / "submitted"
    assert tree(submitted) == {
        f"101/{ASSIGNMENT}/{NB}": fake_submission().encode(),
        f"102/{ASSIGNMENT}/{NB}": fake_submission(fail=["cost"]).encode(),      # -1 dropped
        f"102/{ASSIGNMENT}/notes.txt": b"my notes",
        f"102/{ASSIGNMENT}/{NOTE_FILE}": (LATE_NOTE + "\n").encode(),
        f"103/{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb": fake_submission(fail=["zeros"]).encode(),
    }
    assert "3 student(s) of init_symmetry from submissions.zip" in out and "3 new" in out
    assert "late (Canvas's LATE" in out and "102 (roebob)" in out
    assert "3 member(s) of the zip not written:" in out
    for member in ("readme.txt", "extra/", "extra/doejane_101_9001_other.ipynb"):
        assert f"  {member}: " in out
    assert not list(submitted.glob(".initkit-collect-*"))         # the staging folder is gone

    # The same download again: nothing changes.
    before = tree(submitted)
    assert cli.main(["collect", "canvas", str(zip_path), str(course)]) == 0
    assert "0 new, 3 unchanged, 0 replaced" in capsys.readouterr().out
    assert tree(submitted) == before

    # A newer download where bob handed in another file: refused unless --force, then replaced.
    newer = canvas_zip(tmp_path / "newer.zip", {
        f"doejane_101_9001_{NB}": fake_submission(),
        f"roebob_102_9102_{ASSIGNMENT}.ipynb": fake_submission(),
    })
    assert cli.main(["collect", "canvas", str(newer), str(course)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 student folder(s) already hold other files" in err
    assert "102 (has init_symmetry.ipynb, initkit_note.txt, notes.txt)" in err
    assert "--force" in err and "nothing was written" in err
    assert tree(submitted) == before
    assert cli.main(["collect", "canvas", str(newer), str(course), "--force"]) == 0
    out = capsys.readouterr().out
    assert "0 new, 1 unchanged, 1 replaced" in out
    assert "replaced 102 (roebob): had init_symmetry.ipynb, initkit_note.txt, notes.txt" in out
    assert tree(submitted / "102") == {f"{ASSIGNMENT}/{NB}": fake_submission().encode()}
    assert f"103/{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb" in tree(submitted)   # not in it: kept


def test_a_reupload_replaces_the_older_copy(tmp_path):
    zip_path = canvas_zip(tmp_path / "s.zip", {
        f"doejane_101_9001_{ASSIGNMENT}-2.ipynb": "new",
        f"doejane_101_9001_{NB}": "old",
        f"doejane_101_9001_{ASSIGNMENT}-1.ipynb": "middle",
        "doejane_101_9001_timestamp.txt": "2024-01-01",     # names the grader reads: not written
    })
    plan = read_canvas_zip(zip_path, tmp_path / "submitted", ASSIGNMENT)
    assert plan.students["101"].files == {NB: f"doejane_101_9001_{ASSIGNMENT}-2.ipynb"}
    assert len(plan.skipped) == 3
    assert "reserved" in dict(plan.skipped)["doejane_101_9001_timestamp.txt"]
    collect(plan)
    assert (tmp_path / "submitted" / "101" / ASSIGNMENT / NB).read_text() == "new"


def _symlink_member(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"doejane_101_9001_{NB}", "{}")
        info = zipfile.ZipInfo(f"roebob_102_9002_{NB}")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    return path


def _oversize(path: Path) -> Path:
    from initkit.submission import MAX_NOTEBOOK_BYTES

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"doejane_101_9001_{NB}", "{}")
        z.writestr(f"roebob_102_9002_{NB}", b"\0" * (MAX_NOTEBOOK_BYTES + 2 ** 20))   # 20 kB zipped
    return path


def _lying_size(path: Path) -> Path:
    """A member whose headers declare fewer bytes than it holds (as a zip bomb's do)."""
    name = f"roebob_102_9002_{NB}".encode()
    canvas_zip(path, {f"doejane_101_9001_{NB}": "{}", name.decode(): b"x" * 5000})
    data = bytearray(path.read_bytes())
    at = data.find(name)
    while at != -1:    # the name follows the local header (30 bytes) and the central one (46)
        for header, signature, size_at in ((at - 30, b"PK\x03\x04", 22), (at - 46, b"PK\x01\x02", 24)):
            if header >= 0 and data[header:header + 4] == signature:
                data[header + size_at:header + size_at + 4] = (100).to_bytes(4, "little")
        at = data.find(name, at + 1)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, member, words", [
    (lambda p: canvas_zip(p, {f"doejane_101_9001_{NB}": "{}", f"../roebob_102_9002_{NB}": "{}"}),
     f"../roebob_102_9002_{NB}", "outside the folder"),
    (lambda p: canvas_zip(p, {f"/tmp/roebob_102_9002_{NB}": "{}"}),
     f"/tmp/roebob_102_9002_{NB}", "outside the folder"),
    (lambda p: canvas_zip(p, {f"a/../../roebob_102_9002_{NB}": "{}"}),
     f"a/../../roebob_102_9002_{NB}", "outside the folder"),
    (_symlink_member, f"roebob_102_9002_{NB}", "is a symbolic link"),
    (_oversize, f"roebob_102_9002_{NB}", "is 21.0 MB uncompressed, over the limit of 20.0 MB per file"),
    (_lying_size, f"roebob_102_9002_{NB}", "cannot be read"),
])
def test_unsafe_zips_are_refused_whole(tmp_path, capsys, make, member, words):
    course = make_course(tmp_path / "course")
    zip_path = make(tmp_path / "s.zip")
    assert cli.main(["collect", "canvas", str(zip_path), str(course)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert f"member {member!r}" in err and words in err and "nothing was written" in err, err
    assert not [p for p in (course / "submitted").rglob("*") if p.name != ".initkit.lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "s.zip"]   # nothing beside


def test_other_zips_that_cannot_be_used(tmp_path):
    zip_path = canvas_zip(tmp_path / "s.zip", {f"s{i}_{i}_1_{NB}": "x" * 400 for i in range(5)})
    with pytest.raises(CourseError, match=r"member 's2_2_1_init_symmetry.ipynb' brings the files to "
                                          r"more than 1000 bytes"):
        read_canvas_zip(zip_path, tmp_path / "submitted", ASSIGNMENT, max_total=1000)
    with pytest.raises(CourseError, match="nope.zip: no such file"):
        read_canvas_zip(tmp_path / "nope.zip", tmp_path / "submitted", ASSIGNMENT)
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(CourseError, match="text.zip: not a zip file"):
        read_canvas_zip(tmp_path / "text.zip", tmp_path / "submitted", ASSIGNMENT)
    layout = canvas_zip(tmp_path / "layout.zip", {f"alice/{ASSIGNMENT}/{NB}": "{}"})
    with pytest.raises(CourseError, match=r"layout.zip: no file in it is named as Canvas names "
                                          r"submissions .*found: alice/init_symmetry/init_symmetry"):
        read_canvas_zip(layout, tmp_path / "submitted", ASSIGNMENT)
    assert not (tmp_path / "submitted").exists()


def test_a_student_folder_that_is_a_link_is_never_written_through(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (course / "submitted" / "101").symlink_to(elsewhere)
    assert cli.main(["collect", "canvas", str(download(tmp_path)), str(course)]) == 2
    assert "101: a symbolic link; nothing was written" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in (course / "submitted").iterdir()) == [".initkit.lock", "101"]


def test_collect_takes_the_lock_of_submitted(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    with output_lock(course / "submitted"):
        assert cli.main(["collect", "canvas", str(download(tmp_path)), str(course)]) == 75
    assert "another initkit run is writing here" in capsys.readouterr().err
    assert not (course / "submitted" / "101").exists()


def test_a_note_added_later_is_graded_again(tmp_path):
    """initkit_note.txt is in the result's notes, so it is part of the cache key: a student whose
    note changed is graded again, the others are not."""
    from fakes import add, run

    course = make_course(tmp_path / "course")
    for student in ("101", "102"):
        add(course, student, fake_submission())
    assert run(course).graded_now == 2
    (course / "submitted" / "102" / ASSIGNMENT / NOTE_FILE).write_text(LATE_NOTE)
    again = run(course)
    assert (again.graded_now, again.reused) == (1, 1)


# --------------------------------------------------------------------------- the round trip

ROSTER_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                 f"{ASSIGNMENT} (555)", "Current Points", "Final Score"]
ROSTER_ROWS = [
    ["    Points Possible", "", "", "", "", "", "(read only)", "(read only)"],
    ["Doe, Jane", "101", "S101", "jdoe", "Sec 1", "", "", ""],
    ["Roe, Bob", "102", "S102", "broe", "Sec 1", "", "", ""],
    ["Lee, Cat", "103", "S103", "clee", "Sec 1", "", "", ""],
    ["Poe, Dan", "104", "S104", "dpoe", "Sec 1", "", "", ""],       # handed nothing in
    ["Student, Test", "999", "", "", "Sec 1", "", "", ""],
]


def test_collect_grade_export_round_trip(tmp_path, capsys):
    """Canvas's download -> initkit collect canvas -> initkit grade (the real autograder) ->
    gradebook -> initkit export canvas, matched by the roster's ID column without options."""
    course = copy_real_course(tmp_path / "course")
    example = {s: (EXAMPLES / s / ASSIGNMENT / NB).read_bytes()
               for s in ("correct", "he_uses_1_over_fan_in", "zero_init_only")}
    zip_path = canvas_zip(tmp_path / "submissions.zip", {
        f"doejane_101_9001_{NB}": example["correct"],                           # 100
        f"roebob_LATE_102_9002_{ASSIGNMENT}-1.ipynb": example["he_uses_1_over_fan_in"],   # 92.5
        f"leecat_103_9003_{ASSIGNMENT} (1).ipynb": example["zero_init_only"],   # 67.5
        "readme.txt": "stray",
    })
    assert cli.main(["collect", "canvas", str(zip_path), str(course)]) == 0
    summary = api.grade(Course.open(course), course / "grading-output", workers=2, progress=False)
    scores = {r["student"]: r["score"] for r in summary.results}
    expected = {"101": example_score("correct"), "102": example_score("he_uses_1_over_fan_in"),
                "103": example_score("zero_init_only")}
    assert scores == expected
    notes = {r["student"]: r["notes"] for r in summary.results}
    assert LATE_NOTE not in notes["101"] and LATE_NOTE in notes["102"]
    assert any("init_symmetry (1).ipynb" in n for n in notes["103"])
    page = (course / "grading-output" / "feedback" / "102" / ASSIGNMENT / f"{ASSIGNMENT}.html")
    assert "Submitted late, as marked by Canvas" in page.read_text(encoding="utf-8")

    roster = tmp_path / "canvas_export.csv"
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows([ROSTER_HEADER, *ROSTER_ROWS])
    roster.write_text(buf.getvalue(), encoding="utf-8")
    out = tmp_path / "canvas_import.csv"
    capsys.readouterr()
    assert cli.main(["export", "canvas", str(course), "--roster", str(roster), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 score(s) in column 'init_symmetry (555)' (students matched by ID, chosen " \
           "automatically: it holds 3 of the gradebook's 3 student id(s)" in printed
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    got = {r["ID"]: r[f"{ASSIGNMENT} (555)"] for r in rows if r["Student"] != "    Points Possible"}
    assert {k: float(v) if v else v for k, v in got.items()} == {**expected, "104": "", "999": ""}
    from initkit.reports.tables import read_grades_json

    rows = {r["student"]: r for r in read_grades_json(course / "grading-output" / "grades.json")}
    assert LATE_NOTE in rows["102"]["notes"]                  # the note is in grades.json too
