"""BatchReports, grading -> reports in one direction: the reports written by a child process while
grading goes on are the ones written in this process after it; a slow child never holds up
grading; a dead child loses nothing; what the reports did comes back as data and grading's summary
is never changed."""

from __future__ import annotations

import copy
import os
import signal
import threading

import pytest

from fakes import (ASSIGNMENT, add, fake_grade, fake_submission, gradebook_scores, make_course,
                   report_files)
from initkit.course import Course
from initkit.grading.batch import grade_batch
from initkit.reports import writer as writer_module
from initkit.reports.batch import BatchReports


def _course(tmp_path, monkeypatch) -> Course:
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    root = make_course(tmp_path / "course")
    for i in range(6):
        add(root, f"s{i}", fake_submission(fail=["cost"] if i % 2 else []))
    add(root, "broken", b"\xff\xfe not utf-8")
    (root / "submitted" / "s0" / ASSIGNMENT / "timestamp.txt").write_text("2024-03-01 10:00:00.000000 UTC")
    return Course.open(root, ASSIGNMENT)


def _reports(course, out, url, **options) -> BatchReports:
    return BatchReports(course, out, submissions=course.submitted, gradebook=url,
                        autograded=out / "autograded", **options)


def _batch(course, tmp_path, name, background=True, **kwargs):
    """A batch as api.grade runs it: the reports fed while grading; returns (summary, outcome)."""
    out, url = tmp_path / name, f"sqlite:///{tmp_path / (name + '.db')}"
    reports = _reports(course, out, url, background=background,
                       students=kwargs.get("students"))
    try:
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1, on_filed=reports.add, **kwargs)
        return summary, reports.finish(summary), url
    finally:
        reports.close()


def _same(one, two):
    """Two batches wrote the same bytes, the same gradebook and say the same (paths aside)."""
    (s1, _, url1), (s2, _, url2) = one, two
    assert report_files(s1.out_dir) == report_files(s2.out_dir)
    assert gradebook_scores(url1) == gradebook_scores(url2)

    def plain(summary, outcome, url):
        files = {k: v.replace(str(summary.out_dir), "OUT").replace(url, "DB")
                 for k, v in outcome.files.items()}
        return files, outcome.failed, outcome.rows, outcome.regraded, outcome.changes

    assert plain(*one) == plain(*two)


def test_reports_written_in_the_background_are_the_ones_written_here(tmp_path, monkeypatch):
    course = _course(tmp_path, monkeypatch)
    here = _batch(course, tmp_path, "here", background=False)
    there = _batch(course, tmp_path, "there")
    _same(there, here)
    assert there[1].max_rss > 0 and here[1].max_rss is None     # a child wrote them
    assert [r["status"] for r in there[1].rows] == ["error"] + ["graded"] * 6


def test_the_summary_is_read_never_changed_and_failures_are_data(tmp_path, monkeypatch):
    """A student whose page cannot be written: an error row in the tables and in the outcome,
    with the reason; grading's summary keeps their result as graded."""
    course = _course(tmp_path, monkeypatch)
    real = writer_module.feedback_html

    def page(result, cells, course_):
        if result["student"] == "s3" and result["status"] == "graded":
            raise OSError("disk quota exceeded")
        return real(result, cells, course_)

    monkeypatch.setattr(writer_module, "feedback_html", page)     # before the fork: the child too
    out = tmp_path / "out"
    reports = _reports(course, out, False)
    try:
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1, on_filed=reports.add)
        before = copy.deepcopy(summary)
        outcome = reports.finish(summary)
    finally:
        reports.close()
    assert summary == before
    why = "could not write the feedback page: OSError: disk quota exceeded"
    assert dict(outcome.failed) == {"s3": why}
    rows = {r["student"]: r for r in outcome.rows}
    assert rows["s3"]["status"] == "error" and rows["s3"]["error"] == why and rows["s3"]["score"] == 0
    assert next(r for r in summary.results if r["student"] == "s3")["status"] == "graded"
    assert all("student_code" not in r for r in outcome.rows)
    line = ",".join(["s3", "0", "100", "error", *["0"] * len(course.criteria), why])
    assert line in (out / "grades.csv").read_text().splitlines()


def test_a_regrade_is_the_last_runs_rows_with_theirs_replaced(tmp_path, monkeypatch):
    course = _course(tmp_path, monkeypatch)
    first = _batch(course, tmp_path, "out")
    add(course.root, "s1", fake_submission(note="fixed"))           # 95 -> 100
    add(course.root, "s2", fake_submission(fail=["forward"]))       # not regraded: stays 100
    summary, outcome, _ = _batch(course, tmp_path, "out", students={"s1"})
    assert [r["student"] for r in summary.results] == ["s1"]        # grading: theirs only
    assert outcome.regraded == {"s1"} and outcome.changes == (("s1", 95.0, 100.0),)
    rows = {r["student"]: r for r in outcome.rows}
    assert list(rows) == [r["student"] for r in first[1].rows]
    assert rows["s1"]["score"] == 100 and rows["s2"]["score"] == 100
    assert [r for r in outcome.rows if r["student"] != "s1"] == \
        [r for r in first[1].rows if r["student"] != "s1"]


def test_a_result_that_changed_after_it_was_added_is_written_again(tmp_path, monkeypatch):
    course = _course(tmp_path, monkeypatch)
    here = _batch(course, tmp_path, "here", background=False)
    out, url = tmp_path / "there", f"sqlite:///{tmp_path / 'there.db'}"
    reports = _reports(course, out, url)
    try:
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1)
        stale = {**summary.results[3], "score": 0.0}
        reports.add(stale)                                  # then nothing else: cached, say
        there = summary, reports.finish(summary), url
    finally:
        reports.close()
    _same(there, here)


def test_a_stopped_child_never_holds_up_grading(tmp_path, monkeypatch):
    """With the reports process frozen, results of any size are queued, not waited for."""
    course = _course(tmp_path, monkeypatch)
    summary = grade_batch(course, tmp_path / "out", grade=fake_grade, host_factory=None,
                          progress=False, workers=1)
    reports = BatchReports(course, summary.out_dir, submissions=course.submitted, gradebook=False)
    pid = reports._child.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        big = {**summary.results[0], "student_code": [[1, "x = 1\n" * 200_000]]}   # > any socket buffer
        adder = threading.Thread(target=lambda: [reports.add(big) for _ in range(5)], daemon=True)
        adder.start()
        adder.join(60)
        assert not adder.is_alive(), "add() waited for the reports process"
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        outcome = reports.finish(summary)
    finally:
        reports.close()
    assert len(list((summary.out_dir / "feedback").rglob("*.html"))) == len(summary.results)
    assert set(outcome.files) == {"feedback", "grades.csv", "grades.json", "report"}


@pytest.mark.parametrize("when", ["while grading", "before finish"])
def test_a_dead_child_loses_nothing(tmp_path, monkeypatch, when):
    course = _course(tmp_path, monkeypatch)
    here = _batch(course, tmp_path, "here", background=False)
    out, url = tmp_path / "there", f"sqlite:///{tmp_path / 'there.db'}"
    reports = _reports(course, out, url)
    killed = []

    def add(result, timestamp):
        if when == "while grading" and not killed:
            os.kill(reports._child.pid, signal.SIGKILL)     # e.g. the out-of-memory killer
            killed.append(True)
        reports.add(result, timestamp)

    try:
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1, on_filed=add)
        if when == "before finish":
            os.kill(reports._child.pid, signal.SIGKILL)
        there = summary, reports.finish(summary), url       # written again, here
    finally:
        reports.close()
    _same(there, here)
    assert there[1].max_rss is None


def test_without_a_child_the_reports_are_written_here(tmp_path, monkeypatch):
    """fork() failing (a process limit, say) costs the overlap, not the reports."""
    course = _course(tmp_path, monkeypatch)
    here = _batch(course, tmp_path, "here", background=False)

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    out, url = tmp_path / "there", f"sqlite:///{tmp_path / 'there.db'}"
    with monkeypatch.context() as m:
        m.setattr(os, "fork", no_fork)
        reports = _reports(course, out, url)
    try:
        assert reports._child is None
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1, on_filed=reports.add)
        there = summary, reports.finish(summary), url
    finally:
        reports.close()
    _same(there, here)


def test_an_interrupted_batch_stops_the_child(tmp_path, monkeypatch):
    """close() without finish (Ctrl-C): the child ends, leaving whole files only."""
    course = _course(tmp_path, monkeypatch)
    out = tmp_path / "out"
    reports = _reports(course, out, f"sqlite:///{tmp_path / 'gb.db'}")
    grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False, workers=1,
                on_filed=reports.add)
    pid = reports._child.pid
    reports.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert reports._child.pid is None
    assert not list(out.rglob(".initkit-*.tmp"))
