"""ReportWriter: a batch's reports written one student at a time. The bytes never depend on the
order the results come in; the class-wide files are the tables of every row, as if written from
all of them at once; a student whose output fails is an error row, returned as data; and what it
keeps of a result is only what the class-wide files need."""

from __future__ import annotations

import copy
import gc
import json
import types
from pathlib import Path

from fakes import (ASSIGNMENT, CRITERIA, add, fake_grade, fake_submission, gradebook_scores,
                   make_course, report_files)
from initkit.course import Course
from initkit.grading.batch import grade_batch
from initkit.grading.result import make_result
from initkit.reports import writer as writer_module
from initkit.reports.instructor import class_rows, write_instructor_report
from initkit.reports.tables import grades_csv, grades_json
from initkit.reports.writer import ReportWriter, shown_row


def _course_with_submissions(tmp_path, monkeypatch) -> Course:
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    root = make_course(tmp_path / "course")
    add(root, "alice", fake_submission())
    add(root, "bob", fake_submission(fail=["he_variance", "symmetry_check"]))
    add(root, "carol", b"\xff\xfe not utf-8")
    add(root, "erin", fake_submission(fail=["cost"]))
    (root / "submitted" / "alice" / ASSIGNMENT / "timestamp.txt").write_text(
        "2024-03-01 10:00:00.000000 UTC")
    return Course.open(root, ASSIGNMENT)


def _graded(course: Course, out: Path):
    return grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False, workers=1)


def _write(course, summary, results, **options):
    writer = ReportWriter(course, summary.out_dir, submissions=summary.submissions, **options)
    try:
        for r in results:
            writer.add(r, summary.timestamps.get(r["student"]))
        return writer.finish()
    finally:
        writer.close()


def test_the_order_results_come_in_never_changes_a_byte(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    first, then = _graded(course, tmp_path / "sorted"), _graded(course, tmp_path / "arrived")
    url1, url2 = (f"sqlite:///{tmp_path / name}.db" for name in ("sorted", "arrived"))
    files1 = _write(course, first, first.results, gradebook=url1)[0]
    by = {r["student"]: r for r in then.results}
    stale = copy.deepcopy(by["erin"])                  # a result replaced by a later one
    stale["score"] = 0.0
    arrived = [stale, by["bob"], by["alice"], by["carol"], by["erin"]]
    files2 = _write(course, then, arrived, gradebook=url2)[0]
    assert report_files(first.out_dir) == report_files(then.out_dir)
    assert gradebook_scores(url1) == gradebook_scores(url2)
    assert {k: v.replace(str(first.out_dir), "OUT").replace(url1, "DB") for k, v in files1.items()} \
        == {k: v.replace(str(then.out_dir), "OUT").replace(url2, "DB") for k, v in files2.items()}
    assert json.loads((then.out_dir / "grades.json").read_text())["submissions"][3]["student"] == "erin"


def test_the_class_wide_files_are_the_tables_of_every_row(tmp_path, monkeypatch):
    """Kept a line at a time (grades.json's in a temporary file), put together at the end: the
    same bytes as the tables and report made from every row at once."""
    course = _course_with_submissions(tmp_path, monkeypatch)
    summary = _graded(course, tmp_path / "out")
    files, failed = _write(course, summary, reversed(summary.results), gradebook=False)
    assert failed == {} and set(files) == {"feedback", "grades.csv", "grades.json", "report"}
    out = summary.out_dir
    rows = [shown_row(r, None, course.criteria) for r in summary.results]
    assert (out / "grades.csv").read_bytes().decode("utf-8") == \
        grades_csv(rows, course.criteria)
    assert (out / "grades.json").read_text(encoding="utf-8") == \
        grades_json(summary.results, course.assignment, course.max_score)
    at_once = tmp_path / "at-once"
    write_instructor_report(course, at_once, class_rows(summary.results, course.criteria), None)
    assert report_files(at_once) == {k: v for k, v in report_files(out).items()
                                     if k.startswith("report")}
    assert not [p for p in out.rglob("*") if p.name.startswith(".") and p.suffix == ".tmp"]


def test_a_page_that_fails_makes_an_error_row(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    summary = _graded(course, tmp_path / "out")
    results = copy.deepcopy(summary.results)
    real = writer_module.feedback_html

    def page(result, cells, course_):
        if result["student"] == "bob" and result["status"] == "graded":
            raise OSError("disk quota exceeded")
        return real(result, cells, course_)

    monkeypatch.setattr(writer_module, "feedback_html", page)
    files, failed = _write(course, summary, summary.results, gradebook=False)
    assert failed == {"bob": "could not write the feedback page: OSError: disk quota exceeded"}
    assert summary.results == results                  # the grading's results, as they were
    table = {r["student"]: r for r in json.loads((summary.out_dir / "grades.json").read_text())["submissions"]}
    assert table["bob"]["status"] == "error" and table["bob"]["error"] == failed["bob"]
    assert table["alice"]["status"] == "graded" and "gradebook" not in files
    assert "could not write the feedback page" in (summary.out_dir / "grades.csv").read_text()
    page_text = (summary.out_dir / "feedback" / "bob" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert "disk quota exceeded" in page_text


def test_a_regrade_keeps_everyone_elses_last_row(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    summary = _graded(course, tmp_path / "out")
    _write(course, summary, summary.results, gradebook=False)
    before = json.loads((summary.out_dir / "grades.json").read_text())["submissions"]
    bob = {**next(r for r in summary.results if r["student"] == "bob"), "score": 1.0}
    _write(course, summary, [bob], gradebook=False, students={"bob"})
    after = json.loads((summary.out_dir / "grades.json").read_text())["submissions"]
    assert [r["student"] for r in after] == [r["student"] for r in before]
    assert [r for r in after if r["student"] != "bob"] == [r for r in before if r["student"] != "bob"]
    assert next(r for r in after if r["student"] == "bob")["score"] == 1.0
    assert "\r\nbob,1,100,graded," in (summary.out_dir / "grades.csv").read_bytes().decode()


SECRET = "the_students_own_code_"
DETAIL = "the rest of a long message"


def _result(i: int) -> dict:
    tests = [{"name": f"test_{c}", "criterion": c, "outcome": "failed" if i % 3 == 0 else "passed",
              "score": 0.0, "max_score": 1.0, "message": f"wrong {c}\n{DETAIL} {i}"} for c in CRITERIA]
    return make_result(f"s{i:03d}", "init_symmetry.ipynb", CRITERIA, status="graded", tests=tests,
                       cell_errors=[], isolation="none", duration=0.1, error=None,
                       student_code=[(1, f"{SECRET}{i} = 1\n" * 50)])


def _held(root, skip) -> list:
    """Every object reachable from `root`, not through `skip` or modules, classes, functions."""
    seen, todo, found = set(), [root], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or any(obj is s for s in skip):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                            str, bytes, int, float)):
            continue
        todo.extend(gc.get_referents(obj))
    return found


def test_a_result_is_let_go_once_its_files_are_written(tmp_path, monkeypatch):
    """Memory flat in the class size: after its page is written, nothing of a result's code or
    of its tests' messages beyond their first line is held; the gradebook's rows wait for at most
    GRADEBOOK_ROWS results."""
    monkeypatch.setattr(writer_module, "GRADEBOOK_ROWS", 10)
    course = Course.open(make_course(tmp_path / "course"), ASSIGNMENT)
    writer = ReportWriter(course, tmp_path / "out", gradebook=f"sqlite:///{tmp_path / 'gb.db'}")
    try:
        for i in range(25):
            writer.add(_result(i))
        held = _held(writer, skip=[course, writer._gb])
        results = [o for o in held if isinstance(o, dict) and "student_code" in o]
        assert 0 < len(results) < 10                       # only those waiting for the gradebook
        writer._flush_rows()
        held = _held(writer, skip=[course, writer._gb])
        assert not [o for o in held if isinstance(o, dict) and ("student_code" in o or "tests" in o)]
        assert not [o for o in held if isinstance(o, str) and (SECRET in o or DETAIL in o)]
        files, failed = writer.finish()
    finally:
        writer.close()
    assert failed == {}
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())["submissions"]
    assert len(rows) == 25 and DETAIL in rows[0]["tests"][0]["message"]     # on disk, whole
