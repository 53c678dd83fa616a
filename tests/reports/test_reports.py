"""Reports: CSV, JSON and gradebook agree; nbgrader export sees the scores; feedback pages."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, CRITERIA, add, fake_submission, make_course, run
from initkit.reports.tables import num
from initkit.reports import gradebook, summary as terminal

FULL = sum(CRITERIA.values())      # the fake course has the real course's points


@pytest.fixture
def graded(tmp_path, monkeypatch):
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "alice", fake_submission())
    add(course, "bob", fake_submission(fail=["he_variance", "symmetry_check"]))
    add(course, "carol", b"\xff\xfe not utf-8")
    (course / "submitted" / "dan" / ASSIGNMENT).mkdir(parents=True)
    stamp = course / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt"
    stamp.write_text("2024-03-01 10:00:00.000000 UTC")
    summary = run(course, gradebook=None)
    return course, summary


def _gradebook_scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        for sub in gb.assignment_submissions(ASSIGNMENT):
            (nb,) = sub.notebooks
            out[sub.student.id] = {g.name: g.auto_score for g in nb.grades if g.name in CRITERIA}
    return out


def test_csv_json_and_gradebook_agree(graded):
    course, summary = graded
    out = course / "out"
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student", "score", "max_score", "status", *CRITERIA, "error"]
    by_student = {r["student"]: r for r in rows}
    assert by_student["alice"]["error"] == by_student["bob"]["error"] == ""     # graded rows
    results = {r["student"]: r for r in summary.results}
    for student in ("carol", "dan"):                                            # error rows: the reason
        assert by_student[student]["status"] == "error"
        assert by_student[student]["error"] == results[student]["error"] != ""
    data = json.loads((out / "grades.json").read_text())
    assert data["assignment"] == ASSIGNMENT and data["max_score"] == 100
    book = _gradebook_scores(course)
    assert [r["student"] for r in rows] == [s["student"] for s in data["submissions"]] \
        == sorted(book) == ["alice", "bob", "carol", "dan"]
    for row, result in zip(rows, data["submissions"]):
        assert float(row["score"]) == result["score"] == sum(book[row["student"]].values())
        assert row["status"] == result["status"]
        for name in CRITERIA:
            assert float(row[name]) == result["criteria"][name]["score"] == book[row["student"]][name]
    assert {r["student"]: r["status"] for r in rows} == {
        "alice": "graded", "bob": "graded", "carol": "error", "dan": "error"}
    assert float(rows[1]["score"]) == FULL - CRITERIA["he_variance"] - CRITERIA["symmetry_check"]


def test_gradebook_has_every_graded_cell_and_timestamp(graded):
    from nbgrader.api import Gradebook

    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        nb = gb.find_notebook("init_symmetry", ASSIGNMENT)
        cells = {c.name: c.max_score for c in nb.grade_cells}
        assert cells == {**CRITERIA, "written_constant": 5}
        assert gb.find_submission(ASSIGNMENT, "alice").timestamp.year == 2024


def test_regrade_updates_auto_scores_and_keeps_manual_scores(graded):
    from nbgrader.api import Gradebook

    course, _ = graded
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, course_id="initkit-test") as gb:
        gb.find_grade("written_constant", "init_symmetry", ASSIGNMENT, "bob").manual_score = 4.0
        gb.db.commit()
    add(course, "bob", fake_submission(fail=["cost"], note="resubmitted"))
    run(course, gradebook=None)
    assert _gradebook_scores(course)["bob"]["he_variance"] == CRITERIA["he_variance"]
    assert _gradebook_scores(course)["bob"]["cost"] == 0
    with Gradebook(url, course_id="initkit-test") as gb:
        assert gb.find_grade("written_constant", "init_symmetry", ASSIGNMENT, "bob").manual_score == 4.0
        assert gb.find_submission(ASSIGNMENT, "bob").score == 100 - CRITERIA["cost"] + 4.0


def _submission_rows(gb, student: str) -> dict:
    """What a submission is made of in the gradebook, without ids that differ between two."""
    sub = gb.find_submission(ASSIGNMENT, student)
    return {"timestamp": sub.timestamp,
            "notebooks": sorted((nb.name, sorted(g.cell_id for g in nb.grades),
                                 sorted(c.cell_id for c in nb.comments)) for nb in sub.notebooks)}


@pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")  # nbgrader's own
def test_bulk_submissions_match_nbgrader_add_submission(graded):
    """reports.add_submissions builds the rows nbgrader's own add_student + add_submission build."""
    from nbgrader.api import Gradebook

    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        gb.add_student("by_nbgrader")
        gb.add_submission(ASSIGNMENT, "by_nbgrader", timestamp="2024-05-01 09:00:00 UTC")
        gradebook.add_submissions(gb, ASSIGNMENT, ["by_initkit"],
                                {"by_initkit": "2024-05-01 09:00:00 UTC"})
        gb.db.commit()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        ours, theirs = _submission_rows(gb, "by_initkit"), _submission_rows(gb, "by_nbgrader")
        assert ours == theirs and ours["notebooks"][0][1] and ours["notebooks"][0][2]
        assert gb.find_student("by_initkit").id == "by_initkit"


def test_nbgrader_export_lists_the_scores(graded):
    course, summary = graded
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=course,
                   env=env, check=True, capture_output=True, timeout=120)
    with open(course / "export.csv", newline="") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f)}
    ours = {r["student"]: r["score"] for r in summary.results}
    assert set(exported) == set(ours)
    for student, score in ours.items():
        assert exported[student]["assignment"] == ASSIGNMENT
        assert float(exported[student]["score"]) == score


def test_feedback_pages(graded):
    course, _ = graded
    fb = course / "out" / "feedback"
    page = (fb / "bob" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media" in page and "<link" not in page and "<script" not in page and "http" not in page
    assert "he_variance: wrong &lt;value&gt;" in page          # failed test message, escaped
    assert "symmetry_check: wrong &lt;value&gt;" in page
    assert "# my answer" in page and "&lt;b&gt;escaped&lt;/b&gt;" in page
    assert "added_by_student = 3" in page                       # a cell the student added
    assert "GIVEN_INSTRUCTOR_CODE" not in page                  # the instructor's given code
    assert "<b>escaped</b>" not in page
    carol = (fb / "carol" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert "could not be graded" in carol
    assert (fb / "dan" / ASSIGNMENT / "init_symmetry.html").is_file()
    assert not list((course / "out").rglob(".*.tmp"))


def test_points_come_from_the_source_notebook(tmp_path, monkeypatch):
    """Re-weighting a criterion is an edit of the notebook: grades, tables and gradebook follow."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course", points={"cost": 7})
    add(course, "bob", fake_submission(fail=["cost"]))
    add(course, "eve", fake_submission())
    summary = run(course, gradebook=None)
    rows = {r["student"]: r for r in summary.results}
    assert rows["eve"]["score"] == rows["eve"]["max_score"] == 102
    assert rows["bob"]["score"] == 95 and rows["bob"]["criteria"]["cost"]["max_score"] == 7
    with open(course / "out" / "grades.csv", newline="") as f:
        assert [r["max_score"] for r in csv.DictReader(f)] == ["102", "102"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        cell = {c.name: c.max_score for c in gb.find_notebook("init_symmetry", ASSIGNMENT).grade_cells}
        assert cell["cost"] == 7
        assert gb.find_submission(ASSIGNMENT, "eve").score == 102


def test_format_summary_and_result(graded):
    _, summary = graded
    text = terminal.format_summary(summary)
    assert "graded 2   errors 2   timeouts 0" in text
    middle = num((FULL + FULL - CRITERIA["he_variance"] - CRITERIA["symmetry_check"]) / 2)
    assert f"mean {float(middle):.1f}   median {float(middle):.1f}" in text
    assert "most often failed: he_variance (1), symmetry_check (1)" in text
    assert "grades.csv" in text and "gradebook" in text
    one = terminal.format_result(summary.results[1])
    assert "bob: 85 / 100" in one and "he_variance: wrong <value>" in one


def test_the_table_shows_each_reason_whole_with_short_paths(tmp_path, monkeypatch):
    """Columns student, score, status, reason: an error row's reason is never cut, and the path
    it starts with is shortened (the file's name, or nothing for the student's folder itself);
    in a terminal the reasons wrap under their column."""
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "alice", fake_submission(fail=["cost"]))
    add(course, "eve", b"")
    os.unlink(course / "submitted" / "eve" / ASSIGNMENT / "init_symmetry.ipynb")
    os.symlink(course / "source" / ASSIGNMENT / "init_symmetry.ipynb",
               course / "submitted" / "eve" / ASSIGNMENT / "init_symmetry.ipynb")
    (course / "submitted" / "dan" / ASSIGNMENT).mkdir(parents=True)
    add(course, "zoe", fake_submission(), "a.ipynb")
    add(course, "zoe", fake_submission(), "b.ipynb")
    summary = run(course, gradebook=False)
    eve = ("init_symmetry.ipynb: is a symbolic link; only files inside the student's folder are "
           "graded (upload the notebook itself)")
    dan = "no notebook (.ipynb) in the submission folder (the folder is empty)"
    zoe = ("2 notebooks (a.ipynb, b.ipynb) and none named init_symmetry.ipynb: rename the one to "
           "grade to init_symmetry.ipynb")
    text = terminal.format_summary(summary)          # stdout is not a terminal here: no wrapping
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split() == ["student", "score", "status", "reason"]
    assert table[1].split(None, 3) == ["alice", "95", "graded", "lost: cost"]
    assert table[2].split(None, 3) == ["dan", "0", "error", dan]
    assert table[3].split(None, 3) == ["eve", "0", "error", eve]
    assert table[4].split(None, 3) == ["zoe", "0", "error", zoe]
    assert str(course) not in "\n".join(table) and "…" not in text
    narrow = terminal.format_summary(summary, width=60).split("\n\n")[1].splitlines()
    assert max(len(line) for line in narrow) <= 60
    column = table[0].index("reason")
    eve_at = next(i for i, line in enumerate(narrow) if line.startswith("eve "))
    more = itertools.takewhile(lambda line: not line[:column].strip(), narrow[eve_at + 1:])
    lines = [narrow[eve_at], *more]
    assert len(lines) > 1 and " ".join(line[column:] for line in lines) == eve


def test_one_students_bad_metadata_stays_with_that_student(tmp_path, monkeypatch):
    """A bad timestamp.txt or a folder name that is not UTF-8 is that row's error; everyone else
    gets their grade, feedback and gradebook entry."""
    from nbgrader.api import Gradebook

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    for student in ("alice", "bob", "carl"):
        add(course, student, fake_submission(note=student))
    (course / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt").write_text("2024-03-01 10:00:00 UTC")
    (course / "submitted" / "bob" / ASSIGNMENT / "timestamp.txt").write_text("the day before the deadline")
    weird = os.fsdecode(b"caf\xe9")                       # Latin-1 bytes from an old archive
    (course / "submitted" / weird / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / weird / ASSIGNMENT / "init_symmetry.ipynb").write_text(fake_submission())
    summary = run(course, gradebook=None)
    rows = {r["student"]: r for r in summary.results}
    assert rows["alice"]["score"] == rows["carl"]["score"] == 100
    assert rows["bob"]["status"] == "error" and "timestamp.txt" in rows["bob"]["error"]
    assert "not a date" in rows["bob"]["error"]
    assert rows["caf\\xe9"]["status"] == "error" and "not valid UTF-8" in rows["caf\\xe9"]["error"]
    with open(course / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        assert [r["student"] for r in csv.DictReader(f)] == ["alice", "bob", "caf\\xe9", "carl"]
    assert (course / "out" / "feedback" / "caf\\xe9" / ASSIGNMENT / "init_symmetry.html").is_file()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        assert gb.find_submission(ASSIGNMENT, "alice").timestamp.year == 2024
        assert gb.find_submission(ASSIGNMENT, "carl").score == 100
        assert gb.find_submission(ASSIGNMENT, "bob").score == 0


def test_a_failing_stage_costs_only_that_students_row(tmp_path, monkeypatch):
    """An exception while writing one student's feedback page or gradebook row makes that row an
    error with the reason; every other student gets all of their outputs."""
    from nbgrader.api import Gradebook

    from initkit.reports import feedback as feedback_module
    from initkit.reports import writer

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    for student in ("ann", "page_breaks", "row_breaks", "zed"):
        add(course, student, fake_submission(note=student))
    real_page, real_rows = feedback_module.feedback_html, gradebook._write_rows

    def page(result, cells, course_):
        if result["student"] == "page_breaks" and result["status"] == "graded":
            raise OSError("disk quota exceeded")
        return real_page(result, cells, course_)

    def rows(gb, course_, nb_name, results, stamps):
        if any(r["student"] == "row_breaks" for r in results):
            raise ValueError("a value the database refuses")
        return real_rows(gb, course_, nb_name, results, stamps)

    monkeypatch.setattr(writer, "feedback_html", page)
    monkeypatch.setattr(gradebook, "_write_rows", rows)
    summary = run(course, gradebook=None)
    by = {r["student"]: r for r in summary.results}
    assert by["ann"]["score"] == by["zed"]["score"] == 100
    assert by["page_breaks"]["status"] == "error"
    assert by["page_breaks"]["error"] == "could not write the feedback page: OSError: disk quota exceeded"
    assert by["row_breaks"]["status"] == "error"
    assert "could not record the grade in the gradebook: ValueError" in by["row_breaks"]["error"]
    assert len(summary.errors) == 2
    with open(course / "out" / "grades.csv", newline="") as f:
        assert {r["student"]: r["status"] for r in csv.DictReader(f)} == {
            "ann": "graded", "page_breaks": "error", "row_breaks": "error", "zed": "graded"}
    fb = course / "out" / "feedback"
    assert "could not record the grade" in (fb / "row_breaks" / ASSIGNMENT / "init_symmetry.html").read_text()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        assert gb.find_submission(ASSIGNMENT, "ann").score == gb.find_submission(ASSIGNMENT, "zed").score == 100


def test_an_unusable_gradebook_still_leaves_every_other_output(tmp_path, monkeypatch):
    from initkit.reports.gradebook import GradebookError

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "ann", fake_submission())
    (tmp_path / "not-a-db").write_text("this is not SQLite")
    with pytest.raises(GradebookError, match="not-a-db: cannot open the gradebook.*are written"):
        run(course, gradebook=f"sqlite:///{tmp_path / 'not-a-db'}")
    assert (course / "out" / "grades.csv").is_file()
    assert (course / "out" / "feedback" / "ann" / ASSIGNMENT / "init_symmetry.html").is_file()


def test_feedback_again_with_what_was_graded_by_hand(graded, capsys):
    """After manual grading in formgrader, `initkit feedback` writes every page again with the
    written answers' scores and comments and the total out of all points."""
    from nbgrader.api import Gradebook

    from initkit import cli

    course, _ = graded
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        gb.find_grade("written_constant", "init_symmetry", ASSIGNMENT, "bob").manual_score = 4.0
        gb.find_comment("written_constant", "init_symmetry", ASSIGNMENT, "bob").manual_comment = \
            "Right idea; say <why> the gradients match."
        gb.db.commit()
    assert cli.main(["feedback", str(course), "--out", str(course / "out")]) == 0
    assert "4 feedback pages written" in capsys.readouterr().out
    fb = course / "out" / "feedback"
    page = (fb / "bob" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert 'Total <span class="score">89 / 105</span>' in page          # 85 + 4, of 100 + 5
    assert "Right idea; say &lt;why&gt; the gradients match." in page
    assert "# my answer" in page                                         # the code is still there
    alice = (fb / "alice" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert "some written answers are not graded yet" in alice


def test_late_penalty_as_nbgrader_autograde_assigns_it(tmp_path):
    """With a due date and the course's late policy ('zero': a late notebook's score is all
    penalty), `initkit grade` records the penalty nbgrader's own AssignLatePenalties step gives,
    so totals agree whichever graded the submission; on time: no penalty."""
    import datetime

    import nbformat
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    from fakes import ASSIGNMENT, add, fake_submission, make_course, run

    course = make_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("c.LateSubmissionPlugin.penalty_method = 'zero'\n")
    add(course, "alice", fake_submission())
    add(course, "bob", fake_submission(fail=["cost"]))
    (course / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt").write_text("2024-02-29 23:00:00 UTC")
    (course / "submitted" / "bob" / ASSIGNMENT / "timestamp.txt").write_text("2024-03-02 09:00:00 UTC")
    db = f"sqlite:///{course / 'gradebook.db'}"
    run(course, gradebook=None)                       # the assignment exists, no due date yet
    with Gradebook(db, course_id="initkit-test") as gb:
        assert {s.student.id: s.late_submission_penalty for s in gb.assignment_submissions(ASSIGNMENT)} \
            == {"alice": 0.0, "bob": 0.0}
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime.datetime(2024, 3, 1))
    run(course, gradebook=None, force=True)
    with Gradebook(db, course_id="initkit-test") as gb:
        ours = {s.student.id: (s.score, s.late_submission_penalty)
                for s in gb.assignment_submissions(ASSIGNMENT)}
    assert ours == {"alice": (100.0, 0.0), "bob": (95.0, 95.0)}

    # nbgrader's own step on the same gradebook gives the same penalties
    from initkit.course import Course

    step = AssignLatePenalties(config=Course.open(course).nbgrader_config())
    for student in ("alice", "bob"):
        step.preprocess(nbformat.v4.new_notebook(), {"nbgrader": {
            "notebook": "init_symmetry", "assignment": ASSIGNMENT, "student": student, "db_url": db}})
    with Gradebook(db, course_id="initkit-test") as gb:
        theirs = {s.student.id: (s.score, s.late_submission_penalty)
                  for s in gb.assignment_submissions(ASSIGNMENT)}
    assert theirs == ours


def test_opening_a_gradebook_another_program_is_creating_waits_for_it():
    """Two runs creating one new gradebook at once: the second's insert of the course's row fails
    on the UNIQUE constraint (nbgrader wraps it in InvalidEntry); the open is tried again, and a
    different error is not retried."""
    from nbgrader.api import InvalidEntry

    from initkit.reports import gradebook

    attempts = []

    def racing(db_url, course_id):
        attempts.append(course_id)
        if len(attempts) == 1:
            raise InvalidEntry("(sqlite3.IntegrityError) UNIQUE constraint failed: course.id")
        return "opened"

    assert gradebook._open(racing, "sqlite:///x.db", "c") == "opened" and len(attempts) == 2

    def broken(db_url, course_id):
        raise InvalidEntry("something else entirely")

    with pytest.raises(gradebook.GradebookError, match="cannot open the gradebook"):
        gradebook._open(broken, "sqlite:///x.db", "c")
