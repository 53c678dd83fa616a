"""StreamingReports: the per-student outputs written while grading goes on are the ones
write_reports writes after it, byte for byte."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from fakes import (ASSIGNMENT, add, fake_grade, fake_submission, gradebook_scores, make_course,
                   report_files)
from initkit.course import Course
from initkit.grading.batch import grade_batch
from initkit.reports import streaming
from initkit.reports.streaming import StreamingReports
from initkit.reports.writer import write_reports


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


def test_streamed_reports_are_the_reports_written_after_grading(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    after, streamed = _graded(course, tmp_path / "after"), _graded(course, tmp_path / "streamed")
    after_url = f"sqlite:///{tmp_path / 'after.db'}"
    files_after = write_reports(after, gradebook=after_url)

    url = f"sqlite:///{tmp_path / 'streamed.db'}"
    reports = StreamingReports(course, streamed.out_dir, submissions=streamed.submissions,
                               gradebook=url)
    by = {r["student"]: r for r in streamed.results}
    stale = copy.deepcopy(by["erin"])               # a result that changed after it was added
    stale["score"] = 0.0
    reports.add(stale)
    for student in ("bob", "alice", "carol"):       # in the order results arrive, not sorted
        reports.add(by[student], streamed.timestamps.get(student))
    files = reports.finish(streamed)                # erin: written again, from the final result

    assert report_files(streamed.out_dir) == report_files(after.out_dir)
    assert gradebook_scores(url) == gradebook_scores(after_url)
    assert {k: v.replace(str(streamed.out_dir), "OUT").replace(url, "DB") for k, v in files.items()} \
        == {k: v.replace(str(after.out_dir), "OUT").replace(after_url, "DB")
            for k, v in files_after.items()}
    assert json.loads((streamed.out_dir / "grades.json").read_text())["submissions"][3]["student"] \
        == "erin"


def test_a_page_that_fails_while_streaming_makes_an_error_row(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    summary = _graded(course, tmp_path / "out")
    real = streaming.feedback_html

    def page(result, cells, course_):
        if result["student"] == "bob" and result["status"] == "graded":
            raise OSError("disk quota exceeded")
        return real(result, cells, course_)

    monkeypatch.setattr(streaming, "feedback_html", page)
    reports = StreamingReports(course, summary.out_dir, submissions=summary.submissions,
                               gradebook=False)
    for r in summary.results:
        reports.add(r, summary.timestamps.get(r["student"]))
    files = reports.finish(summary)
    by = {r["student"]: r for r in summary.results}
    assert by["bob"]["status"] == "error"
    assert by["bob"]["error"] == "could not write the feedback page: OSError: disk quota exceeded"
    assert by["alice"]["status"] == "graded" and "gradebook" not in files
    page = (summary.out_dir / "feedback" / "bob" / ASSIGNMENT / "init_symmetry.html").read_text()
    assert "disk quota exceeded" in page


def test_finish_without_add_is_write_reports(tmp_path, monkeypatch):
    course = _course_with_submissions(tmp_path, monkeypatch)
    summary = _graded(course, tmp_path / "out")
    reports = StreamingReports(course, summary.out_dir, submissions=summary.submissions,
                               gradebook=False)
    files = reports.finish(summary)
    assert set(files) == {"feedback", "grades.csv", "grades.json", "report"}
    assert len(list((summary.out_dir / "feedback").rglob("*.html"))) == 4
