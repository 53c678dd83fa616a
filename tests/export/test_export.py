"""Exports out of nbgrader's gradebook: `initkit export canvas` and the nbgrader export plugin.

The Canvas files here follow Canvas's gradebook export (Grades > Export): the header (`Student`,
`ID`, `SIS User ID`, `SIS Login ID`, `Section`, assignments titled `<name> (<Canvas id>)`, then
the read-only totals), a "Manual Posting" row, the "    Points Possible" row (read-only columns say
"(read only)"), the students, and Canvas's test student last. `canvas_reads` reads a file back by
the rules of Canvas's importer, so each test checks what Canvas would import, not only our text.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from fakes import (ASSIGNMENT, EXAMPLE_LOSSES, REPO, example_score, add, copy_real_course, fake_submission, jupyter_env,
                   run)
from initkit import cli
from initkit.course import Course, CourseError
from initkit.reports.tables import num
from initkit.export.canvas import RosterError, export_canvas

NB = "init_symmetry"
COURSE_ID = "initkit-test"          # fakes.make_course's course id
COLUMN = f"{ASSIGNMENT} (12345)"
BOM = "\ufeff"

# The fake grader's scores (fakes.CRITERIA, of 100; the written answer is 5 more, by hand).
SUBMISSIONS = {
    "alice": fake_submission(),                                   # 100
    "bob": fake_submission(fail=["he_variance"]),                 # 90 (+ 4 by hand, late: -10%)
    "carol": b"\xff\xfe not a notebook",                          # 0: a broken upload
    "dan": fake_submission(fail=["cost", "symmetry_check"]),      # 90
    "erin": fake_submission(fail=["zeros"]),                      # 95, but not in Canvas
}

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz 1 (11111)",
                 COLUMN, "Current Points", "Final Points", "Current Score",
                 "Unposted Current Score", "Final Score", "Unposted Final Score"]
CANVAS_ROWS = [
    ["", "", "", "", "", "", "Manual Posting", "", "", "", "", "", ""],
    ["    Points Possible", "", "", "", "", "10.00", "", *["(read only)"] * 6],
    ["Liddell, Alice", "101", "S101", "alice", "Sec 1", "9.00", "", "9.00", "9.00", "90.00",
     "90.00", "90.00", "90.00"],
    ["Builder, Bob", "102", "S102", "bob", "Sec 1 and Sec 2", "7.50", "", "7.50", "7.50", "75.00",
     "75.00", "75.00", "75.00"],
    ['="Carol"', "103", "S103", "carol", "Sec 2", "", "", "", "", "", "", "", ""],
    ["Dane, Dan", "104", "S104", "dan", "Sec 2", "10.00", "", "10.00", "10.00", "100.00",
     "100.00", "100.00", "100.00"],
    ["Frank, Fay", "105", "S105", "frank", "Sec 2", "", "", "", "", "", "", "", ""],
    ["Student, Test", "999", "", "", "Sec 1", "", "", "", "", "", "", "", ""],
]


def canvas_csv(header=CANVAS_HEADER, rows=CANVAS_ROWS, delimiter=",", newline="\n", bom=False) -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows([header, *rows])
    return (BOM if bom else "") + buf.getvalue()


# --------------------------------------------------------------------------- Canvas's importer

_TOTALS = re.compile(r"Current Score|Current Points|Current Grade|Final Score|Final Points|Final Grade")
_TITLE_AND_ID = re.compile(r"(.*)\s+\((\d+)\)")


def canvas_reads(path: Path) -> dict:
    """What Canvas's gradebook importer reads from the file (Canvas's GradebookImporter): the
    delimiter (`;` if only it splits the first lines evenly), the header (students' name columns,
    ID, the SIS columns, Section last), the assignments (the columns up to the trailing totals,
    each `title (id)`), their points (the row whose first cell says Points Possible), and each
    student's grade per assignment (rows whose cells are all blank or Muted/Manual Posting are no
    students). Every grade must be blank, EX or a number."""
    text = path.read_bytes().decode("utf-8")
    text = text[1:] if text.startswith(BOM) else text
    lines = text.splitlines()[:3]
    counts = {d: {len(next(csv.reader([line], delimiter=d))) for line in lines} for d in ",;"}
    delimiter = ";" if len(counts[";"]) == 1 and len(counts[","]) != 1 else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    header = rows[0]
    names = 2 if header[:2] == ["LastName", "FirstName"] else 1
    assert header[names - 1] in ("Student", "FirstName") and header[names] == "ID", header
    identity = names + 1
    for optional in ("SIS User ID", "SIS Login ID", "Integration ID", "Root Account"):
        if identity < len(header) and header[identity] == optional:
            identity += 1
    assert header[identity] == "Section", header
    identity += 1
    assignments = header[identity:]
    while assignments and _TOTALS.search(assignments[-1]):
        assignments.pop()
    points, students = {}, {}
    for row in rows[1:]:
        if row and "Points Possible" in row[0]:
            points = dict(zip(assignments, row[identity:]))
            continue
        if all(re.fullmatch(r"(?i)(muted|manual posting.*)?", c.strip()) for c in row):
            continue
        assert len(row) == len(header), row
        ids = dict(zip(header[:identity], row))
        key = ids["ID"] or ids.get("SIS User ID") or ids.get("SIS Login ID")
        assert key, f"a student row Canvas cannot match: {row}"
        grades = dict(zip(assignments, row[identity:]))
        for title, grade in grades.items():
            assert grade in ("", "EX", "N/A") or re.fullmatch(r"-?\d+([.,]\d+)?", grade), (title, grade)
        students[key] = {"login": ids.get("SIS Login ID"), **grades}
    for title in assignments:
        assert _TITLE_AND_ID.fullmatch(title) or title, title
    return {"delimiter": delimiter, "assignments": assignments, "points": points,
            "students": students}


# --------------------------------------------------------------------------- a graded course


@pytest.fixture(scope="module")
def graded_once(tmp_path_factory) -> Path:
    """The fake course, graded by the fake grader into its gradebook.db (once per module)."""
    from fakes import make_course

    course = make_course(tmp_path_factory.mktemp("export") / "course")
    for student, content in SUBMISSIONS.items():
        add(course, student, content)
    (course / "submitted" / "bob" / ASSIGNMENT / "timestamp.txt").write_text(
        "2024-03-02 09:00:00.000000 UTC")                  # a day after the due date below
    run(course, gradebook=None)
    return course


@pytest.fixture
def course(graded_once, tmp_path) -> Path:
    """A copy of the graded course for one test to change."""
    return Path(shutil.copytree(graded_once, tmp_path / "course"))


def _gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID)


def _late_plugin():
    """A course's LateSubmissionPlugin: 10% of the score off a late notebook."""
    from nbgrader.plugins import LateSubmissionPlugin

    class TenPercent(LateSubmissionPlugin):
        def late_submission_penalty(self, student_id, score, total_seconds_late):
            return 0.1 * score

    return TenPercent


def grade_by_hand_and_penalize(course: Path) -> None:
    """What a TA and `nbgrader autograde` add to the gradebook: bob's written answer graded 4 of
    5 in formgrader, and his late penalty assigned by nbgrader's own AssignLatePenalties step
    (with a course plugin taking 10% off), the assignment being due 2024-03-01."""
    import datetime

    import nbformat
    from nbgrader.preprocessors import AssignLatePenalties
    from traitlets.config import Config

    with _gradebook(course) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime.datetime(2024, 3, 1))
        grade = gb.find_grade("written_constant", NB, ASSIGNMENT, "bob")
        grade.manual_score, grade.needs_manual_grade = 4.0, False
        gb.db.commit()
    config = Config()
    config.AssignLatePenalties.plugin_class = _late_plugin()
    resources = {"nbgrader": {"notebook": NB, "assignment": ASSIGNMENT, "student": "bob",
                              "db_url": f"sqlite:///{course / 'gradebook.db'}"}}
    AssignLatePenalties(config=config).preprocess(nbformat.v4.new_notebook(), resources)


def _write_roster(tmp_path: Path, text: str, name: str = "canvas_export.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _export(course: Path, roster: Path, out: Path, **kw):
    return export_canvas(Course.open(course, ASSIGNMENT), roster, out, **kw)


# --------------------------------------------------------------------------- Canvas


def test_canvas_file_has_each_students_total(course, tmp_path):
    """Autograded + manual, less nbgrader's late penalty; other rows and columns as exported."""
    grade_by_hand_and_penalize(course)
    roster = _write_roster(tmp_path, canvas_csv())
    result = _export(course, roster, tmp_path / "import.csv")

    read = canvas_reads(tmp_path / "import.csv")
    grades = {s["login"]: s[COLUMN] for s in read["students"].values()}
    assert grades == {"alice": "100", "bob": "84.6", "carol": "0", "dan": "90", "frank": "",
                      "": ""}                                   # (94 - 9.4); test student: blank
    assert read["points"][COLUMN] == "105"                       # blank in Canvas: set, 100 + 5
    assert read["points"]["Quiz 1 (11111)"] == "10.00"
    assert read["assignments"] == ["Quiz 1 (11111)", COLUMN]
    assert result.filled == {"alice": 100.0, "bob": pytest.approx(84.6), "carol": 0.0, "dan": 90.0}
    assert result.unmatched == {"erin": 95.0}
    assert result.no_submission == ["frank"]
    assert result.column == COLUMN

    # Everything but the assignment's cells is what Canvas exported.
    before = list(csv.reader(io.StringIO(canvas_csv())))
    after = list(csv.reader(io.StringIO((tmp_path / "import.csv").read_text(encoding="utf-8"))))
    col = CANVAS_HEADER.index(COLUMN)
    assert [r[:col] + r[col + 1:] for r in after] == [r[:col] + r[col + 1:] for r in before]
    assert after[1][col] == "Manual Posting"
    assert after[5][0] == '="Carol"'


def test_unfinished_manual_grading_is_a_warning(course, tmp_path):
    roster = _write_roster(tmp_path, canvas_csv())
    result = _export(course, roster, tmp_path / "import.csv")
    (warning,) = result.warnings
    assert "4 submission(s) still have answers to grade by hand" in warning
    assert "alice, bob, carol, dan" in warning


def test_totals_agree_with_nbgraders_own_counting(course):
    """raw_score and the penalty are nbgrader's SubmittedAssignment.score and
    late_submission_penalty; the total is what nbgrader's CSV export computes."""
    from initkit.export.totals import assignment_totals

    grade_by_hand_and_penalize(course)
    with _gradebook(course) as gb:
        _, totals = assignment_totals(gb, ASSIGNMENT)
        for t in totals:
            sub = gb.find_submission(ASSIGNMENT, t.student)
            assert t.raw_score == pytest.approx(sub.score)
            assert t.late_penalty == pytest.approx(sub.late_submission_penalty)
            assert t.score == pytest.approx(max(0.0, sub.score - sub.late_submission_penalty))
            assert t.max_score == sub.max_score == 105
            assert t.autograded_score + t.manual_score == pytest.approx(t.raw_score)
    bob = next(t for t in totals if t.student == "bob")
    assert (bob.autograded_score, bob.manual_score, bob.late_penalty) == (90, 4, pytest.approx(9.4))
    assert bob.autograded["he_variance"] == 0 and bob.ungraded == ()


def test_bom_crlf_semicolons_and_first_last_name_columns_are_kept(course, tmp_path):
    """Canvas's options: a byte order mark, `;` between fields with decimal commas, LastName and
    FirstName instead of Student. The file comes back in the same shape."""
    header = ["LastName", "FirstName", *CANVAS_HEADER[1:]]
    rows = [[r[0].split(", ")[0], r[0].split(", ")[-1], *r[1:]] if i > 1 else ["", *r]
            for i, r in enumerate(CANVAS_ROWS)]
    rows = [[c.replace(".", ",") if re.fullmatch(r"\d+\.\d+", c) else c for c in r] for r in rows]
    rows[1][0] = "    Points Possible"
    text = canvas_csv(header, rows, delimiter=";", newline="\r\n", bom=True)
    roster = _write_roster(tmp_path, text)
    _export(course, roster, tmp_path / "import.csv")

    data = (tmp_path / "import.csv").read_bytes()
    assert data.startswith(BOM.encode("utf-8"))
    assert data.count(b"\r\n") == len(rows) + 1 and data.count(b"\n") == len(rows) + 1
    read = canvas_reads(tmp_path / "import.csv")
    assert read["delimiter"] == ";"
    assert {s["login"]: s[COLUMN] for s in read["students"].values()}["dan"] == "90"
    assert read["students"]["101"]["Quiz 1 (11111)"] == "9,00"       # as Canvas wrote it


def test_excused_students_stay_excused_and_canvas_points_are_kept(course, tmp_path):
    rows = [list(r) for r in CANVAS_ROWS]
    rows[1][6] = "100.00"                      # Canvas says 100 points; the gradebook says 105
    rows[3][6] = "EX"                          # bob is excused in Canvas
    rows[6][6] = "7"                           # frank was graded in Canvas, without a submission
    roster = _write_roster(tmp_path, canvas_csv(rows=rows))
    result = _export(course, roster, tmp_path / "import.csv")
    read = canvas_reads(tmp_path / "import.csv")
    assert read["points"][COLUMN] == "100.00"
    assert read["students"]["102"][COLUMN] == "EX"
    assert read["students"]["105"][COLUMN] == "7"
    assert any("worth 100.00 points" in w and "105" in w for w in result.warnings)
    assert any("excused" in w and "bob" in w for w in result.warnings)
    assert "bob" not in result.filled


def test_match_by_another_column_and_name_the_column(course, tmp_path):
    """--match-column 'SIS User ID' when Canvas's SIS ids are the nbgrader ids; --column for an
    assignment titled differently in Canvas."""
    header = [("Lab 3: initialization (777)" if c == COLUMN else c) for c in CANVAS_HEADER]
    rows = [[({"alice": "x1", "bob": "x2"}.get(c, c) if i == 3 else c) for i, c in enumerate(r)]
            for r in CANVAS_ROWS]
    rows = [[({"S101": "alice", "S102": "bob"}.get(c, c) if i == 2 else c) for i, c in enumerate(r)]
            for r in rows]
    roster = _write_roster(tmp_path, canvas_csv(header, rows))
    with pytest.raises(RosterError, match="no column for the assignment 'init_symmetry'"):
        _export(course, roster, tmp_path / "import.csv")
    result = _export(course, roster, tmp_path / "import.csv", match_column="SIS User ID",
                     column="Lab 3: initialization (777)")
    assert result.filled == {"alice": 100.0, "bob": 90.0}
    assert set(result.unmatched) == {"carol", "dan", "erin"}


def test_cli_writes_the_file_and_lists_submissions_without_a_row(course, tmp_path, capsys):
    roster = _write_roster(tmp_path, canvas_csv())
    out = tmp_path / "canvas_import.csv"
    code = cli.main(["export", "canvas", str(course), "--assignment", ASSIGNMENT,
                     "--roster", str(roster), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == cli.EXIT_WITH_ERRORS                     # written, but erin's grade is not in it
    assert "4 score(s) in column 'init_symmetry (12345)'" in captured.out
    assert "1 submission(s) have no row in the Canvas export" in captured.err
    assert "  erin\t95" in captured.err
    assert out.is_file()

    rows = [list(r) for r in CANVAS_ROWS] + [["Ek, Erin", "106", "S106", "erin", "Sec 1",
                                              *[""] * 8]]
    roster = _write_roster(tmp_path, canvas_csv(rows=rows), "all.csv")
    code = cli.main(["export", "canvas", str(course), "--roster", str(roster), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert canvas_reads(out)["students"]["106"][COLUMN] == "95"


BAD_ROSTERS = {
    "not_canvas": ("name,login\nAlice,alice\n", {}, "not a Canvas gradebook export"),
    "no_column": (canvas_csv([c.replace(COLUMN, "Other (1)") for c in CANVAS_HEADER]), {},
                  "no column for the assignment 'init_symmetry'.*'Quiz 1 \\(11111\\)', 'Other \\(1\\)'"),
    "two_columns": (canvas_csv([*CANVAS_HEADER[:6], COLUMN, f"{ASSIGNMENT} (999)"],
                               [r[:8] for r in CANVAS_ROWS]), {}, "2 columns for the assignment"),
    "read_only": (canvas_csv(), {"column": "Final Score"}, "'Final Score' is read only"),
    "no_match_column": (canvas_csv(), {"match_column": "Email"},
                        "no 'Email' column to match students by.*SIS Login ID"),
    "duplicate": (canvas_csv(rows=[*CANVAS_ROWS, ["Alice 2", "201", "S201", "alice", "Sec 1",
                                                  *[""] * 8]]), {},
                  "lines 4 and 10 both have SIS Login ID 'alice'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROSTERS))
def test_a_file_that_cannot_be_used_is_one_line_naming_it(course, tmp_path, capsys, case):
    text, options, message = BAD_ROSTERS[case]
    roster = _write_roster(tmp_path, text, f"{case}.csv")
    with pytest.raises(RosterError, match=message) as raised:
        _export(course, roster, tmp_path / "import.csv", **options)
    assert str(raised.value).startswith(f"{roster}: ")
    assert not (tmp_path / "import.csv").exists()
    args = {"column": "--column", "match_column": "--match-column"}
    flags = [x for k, v in options.items() for x in (args[k], v)]
    assert cli.main(["export", "canvas", str(course), "--roster", str(roster),
                     "-o", str(tmp_path / "import.csv"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"initkit export: error: {roster}: ") and err.count("\n") == 1


def test_other_unusable_inputs(course, tmp_path):
    roster = _write_roster(tmp_path, canvas_csv())
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(canvas_csv().replace("Liddell", "Lidd\u00e9ll").encode("latin-1"))
    with pytest.raises(RosterError, match="latin1.csv: not UTF-8"):
        _export(course, latin, tmp_path / "import.csv")
    with pytest.raises(RosterError, match="would overwrite the Canvas export"):
        _export(course, roster, roster)
    with pytest.raises(RosterError, match="nope.csv: cannot read"):
        _export(course, tmp_path / "nope.csv", tmp_path / "import.csv")
    with pytest.raises(CourseError, match="elsewhere.db: no gradebook"):
        _export(course, roster, tmp_path / "import.csv", db_url=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    other = tmp_path / "other.db"             # a gradebook of another assignment
    shutil.copy(course / "gradebook.db", other)
    with closing(sqlite3.connect(other)) as db, db:
        db.execute("UPDATE assignment SET name = 'another'")
    with pytest.raises(CourseError, match="the gradebook has no assignment 'init_symmetry'"):
        _export(course, roster, tmp_path / "import.csv", db_url=f"sqlite:///{other}")
    assert not (tmp_path / "import.csv").exists()


# --------------------------------------------------------------------------- the nbgrader plugin

PLUGIN = "initkit.export.nbgrader_plugin.CriteriaExportPlugin"


def _nbgrader(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=jupyter_env(cwd.parent),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_plugin_through_nbgraders_command_line(course):
    """`nbgrader export --exporter=...` in the course: a row per student, a column per criterion,
    the totals equal to nbgrader's own CSV export's, students without a submission included."""
    from fakes import CRITERIA

    grade_by_hand_and_penalize(course)
    with _gradebook(course) as gb:
        gb.update_or_create_student("frank", first_name="Fay", last_name="Frank Jr.",
                                    email="fay@example.edu")        # in the gradebook, no submission
        gb.update_or_create_student("alice", first_name="Alice", last_name="Liddell")
    proc = _nbgrader(["export", f"--exporter={PLUGIN}", "--to=scores.csv"], course)
    assert "CriteriaExportPlugin" in proc.stderr
    _nbgrader(["export", "--to=nbgrader.csv"], course)

    rows = {r["student_id"]: r for r in _read_csv(course / "scores.csv")}
    theirs = {r["student_id"]: r for r in _read_csv(course / "nbgrader.csv")}
    assert set(rows) == set(theirs) == {"alice", "bob", "carol", "dan", "erin", "frank"}
    header = list(rows["alice"])
    assert header == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                      "email", "submitted", *CRITERIA, "autograded_score", "manual_score",
                      "raw_score", "late_submission_penalty", "score", "max_score",
                      "needs_manual_grade"]
    for student, row in rows.items():
        for key in ("raw_score", "late_submission_penalty", "score", "max_score"):
            assert float(row[key]) == pytest.approx(float(theirs[student][key]), abs=1e-3), (student, key)
    bob = rows["bob"]
    assert (bob["he_variance"], bob["zeros"], bob["autograded_score"], bob["manual_score"]) == \
        ("0", "5", "90", "4")
    assert (bob["raw_score"], bob["late_submission_penalty"], bob["score"]) == ("94", "9.4", "84.6")
    assert bob["needs_manual_grade"] == "False" and rows["alice"]["needs_manual_grade"] == "True"
    assert bob["duedate"] == "2024-03-01 00:00:00" and bob["timestamp"].startswith("2024-03-02 09:00")
    assert rows["frank"]["last_name"] == "Frank Jr." and rows["frank"]["submitted"] == "False"
    assert rows["frank"]["zeros"] == "" and rows["frank"]["score"] == "0"
    assert rows["alice"]["first_name"] == "Alice" and rows["alice"]["submitted"] == "True"


def test_plugin_picks_assignments_and_students(course):
    _nbgrader(["export", f"--exporter={PLUGIN}", "--to=two.csv", "--student=[alice,dan]",
               f"--assignment=[{ASSIGNMENT}]"], course)
    rows = _read_csv(course / "two.csv")
    assert [(r["student_id"], r["score"]) for r in rows] == [("alice", "100"), ("dan", "90")]


def test_plugin_python_api(course, tmp_path):
    """For scripts: the plugin on an open Gradebook, with nbgrader's traits."""
    from initkit.export.nbgrader_plugin import CriteriaExportPlugin, table

    with _gradebook(course) as gb:
        gb.update_or_create_student("erin", last_name="O'Hara, Jr.")    # quoted, unlike nbgrader's
        CriteriaExportPlugin(to=str(tmp_path / "x.csv"), student=["erin", "carol"]).export(gb)
        header, rows = table(gb, [ASSIGNMENT])
    got = _read_csv(tmp_path / "x.csv")
    assert [(r["student_id"], r["zeros"], r["score"]) for r in got] == [("carol", "0", "0"),
                                                                       ("erin", "0", "95")]
    assert got[1]["last_name"] == "O'Hara, Jr."
    assert len(rows) == 5 and header[3] == "student_id"


@pytest.mark.filterwarnings("ignore:.*not in session")       # nbgrader's add_submission
def test_plugin_with_two_assignments_takes_the_union_of_their_cells(course):
    """A second assignment with a cell named like one of the first's: one column for both, and
    the other's cells blank."""
    from nbgrader.api import GradeCell

    with _gradebook(course) as gb:
        gb.update_or_create_assignment("quiz")
        nb = gb.update_or_create_notebook("quiz", "quiz")
        gb.db.add(GradeCell(name="zeros", max_score=2, cell_type="code", notebook=nb))
        gb.db.add(GradeCell(name="extra", max_score=3, cell_type="code", notebook=nb))
        gb.db.commit()
        gb.add_submission("quiz", "alice")
        gb.find_grade("extra", "quiz", "quiz", "alice").auto_score = 3
        gb.db.commit()
    _nbgrader(["export", f"--exporter={PLUGIN}", "--to=both.csv"], course)
    rows = {(r["assignment"], r["student_id"]): r for r in _read_csv(course / "both.csv")}
    assert list(rows[ASSIGNMENT, "alice"]).count("zeros") == 1
    assert rows["quiz", "alice"]["extra"] == "3" and rows["quiz", "alice"]["zeros"] == "0"
    assert rows["quiz", "alice"]["random"] == "" and rows[ASSIGNMENT, "alice"]["extra"] == ""
    assert rows["quiz", "bob"]["submitted"] == "False"
    assert rows["quiz", "alice"]["max_score"] == "5"


# --------------------------------------------------------------------------- the real grader

# `initkit grade` on the examples (fakes.example_score: from the course's points).
EXAMPLE_TOTALS = {e: num(example_score(e)) for e in [*EXAMPLE_LOSSES, "broken_upload"]}


@pytest.mark.slow
def test_canvas_file_from_the_example_submissions(tmp_path):
    """The real grader on the example submissions, into a real gradebook; the Canvas file has
    each example's total, and the points are the source notebook's (tests and written answers)."""
    from initkit import api

    root = copy_real_course(tmp_path / "course")
    shutil.rmtree(root / "submitted")
    shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted", root / "submitted")
    course = Course.open(root, ASSIGNMENT)
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    api.grade(course, tmp_path / "out", gradebook=db, progress=False)

    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", COLUMN, "Final Score"]
    students = sorted(EXAMPLE_TOTALS) + ["dropped_the_course"]
    rows = [["    Points Possible", "", "", "", "", "", "(read only)"]] + \
        [[f"Student {i}", str(500 + i), f"S{i}", s, "Sec 1", "", ""] for i, s in enumerate(students)]
    roster = _write_roster(tmp_path, canvas_csv(header, rows))
    result = export_canvas(course, roster, tmp_path / "import.csv", db_url=db)

    read = canvas_reads(tmp_path / "import.csv")
    assert {s["login"]: s[COLUMN] for s in read["students"].values()} == \
        {**EXAMPLE_TOTALS, "dropped_the_course": ""}
    assert read["points"][COLUMN] == f"{course.max_score + course.manual_points:g}"
    assert result.unmatched == {} and result.no_submission == ["dropped_the_course"]
