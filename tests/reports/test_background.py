"""BackgroundReports: the reports written by a child process while grading goes on are the ones
write_reports writes after it; a slow child never holds up grading; a dead child loses nothing."""

from __future__ import annotations

import os
import signal
import threading

from fakes import (ASSIGNMENT, add, fake_grade, fake_submission, gradebook_scores, make_course,
                   report_files)
from initkit.course import Course
from initkit.grading.batch import grade_batch
from initkit.reports.background import BackgroundReports
from initkit.reports.writer import write_reports


def _course(tmp_path, monkeypatch) -> Course:
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    root = make_course(tmp_path / "course")
    for i in range(6):
        add(root, f"s{i}", fake_submission(fail=["cost"] if i % 2 else []))
    add(root, "broken", b"\xff\xfe not utf-8")
    (root / "submitted" / "s0" / ASSIGNMENT / "timestamp.txt").write_text("2024-03-01 10:00:00.000000 UTC")
    return Course.open(root, ASSIGNMENT)


def _batch(course, out, tmp_path, name, **kwargs):
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    reports = BackgroundReports(course, out, submissions=course.submitted, gradebook=url,
                                autograded=out / "autograded")
    try:
        summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                              workers=1, on_filed=reports.add, **kwargs)
        return summary, reports, url
    except BaseException:
        reports.close()
        raise


def _after(course, tmp_path):
    out = tmp_path / "after"
    summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False, workers=1)
    url = f"sqlite:///{tmp_path / 'after.db'}"
    files = write_reports(summary, gradebook=url, autograded=out / "autograded")
    return summary, files, url


def _same(files, out, url, after_files, after_out, after_url):
    assert report_files(out) == report_files(after_out)
    assert gradebook_scores(url) == gradebook_scores(after_url)
    assert {k: v.replace(str(out), "OUT").replace(url, "DB") for k, v in files.items()} == \
        {k: v.replace(str(after_out), "OUT").replace(after_url, "DB") for k, v in after_files.items()}


def test_reports_written_in_the_background_are_the_ones_written_after(tmp_path, monkeypatch):
    course = _course(tmp_path, monkeypatch)
    after, after_files, after_url = _after(course, tmp_path)
    summary, reports, url = _batch(course, tmp_path / "bg", tmp_path, "bg")
    pid = reports._pid
    files = reports.finish(summary)
    assert pid is not None and reports._pid is None          # a child did it, and is gone
    _same(files, summary.out_dir, url, after_files, after.out_dir, after_url)
    assert [r["status"] for r in summary.results] == [r["status"] for r in after.results]


def test_a_stopped_child_never_holds_up_grading(tmp_path, monkeypatch):
    """With the reports process frozen, results of any size are queued, not waited for."""
    course = _course(tmp_path, monkeypatch)
    summary = grade_batch(course, tmp_path / "out", grade=fake_grade, host_factory=None,
                          progress=False, workers=1)
    reports = BackgroundReports(course, summary.out_dir, submissions=course.submitted, gradebook=False)
    os.kill(reports._pid, signal.SIGSTOP)
    try:
        big = {**summary.results[0], "student_code": [[1, "x = 1\n" * 200_000]]}   # > any socket buffer
        adder = threading.Thread(target=lambda: [reports.add(big) for _ in range(5)], daemon=True)
        adder.start()
        adder.join(60)
        assert not adder.is_alive(), "add() waited for the reports process"
    finally:
        os.kill(reports._pid, signal.SIGCONT)
    files = reports.finish(summary)
    assert len(list((summary.out_dir / "feedback").rglob("*.html"))) == len(summary.results)
    assert set(files) == {"feedback", "grades.csv", "grades.json", "report"}


def test_a_dead_child_loses_nothing(tmp_path, monkeypatch):
    course = _course(tmp_path, monkeypatch)
    after, after_files, after_url = _after(course, tmp_path)
    summary, reports, url = _batch(course, tmp_path / "bg", tmp_path, "bg")
    os.kill(reports._pid, signal.SIGKILL)           # e.g. the out-of-memory killer
    files = reports.finish(summary)                 # written again, here
    _same(files, summary.out_dir, url, after_files, after.out_dir, after_url)


def test_without_a_child_the_reports_are_written_here(tmp_path, monkeypatch):
    """fork() failing (a process limit, say) costs the overlap, not the reports."""
    course = _course(tmp_path, monkeypatch)
    after, after_files, after_url = _after(course, tmp_path)

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    out, url = tmp_path / "bg", f"sqlite:///{tmp_path / 'bg.db'}"
    with monkeypatch.context() as m:
        m.setattr(os, "fork", no_fork)
        reports = BackgroundReports(course, out, submissions=course.submitted, gradebook=url,
                                    autograded=out / "autograded")
    assert reports._pid is None
    summary = grade_batch(course, out, grade=fake_grade, host_factory=None, progress=False,
                          workers=1, on_filed=reports.add)
    files = reports.finish(summary)
    _same(files, summary.out_dir, url, after_files, after.out_dir, after_url)


def test_an_interrupted_batch_stops_the_child(tmp_path, monkeypatch):
    """close() without finish (Ctrl-C): the child ends, leaving whole files only."""
    course = _course(tmp_path, monkeypatch)
    summary, reports, _url = _batch(course, tmp_path / "bg", tmp_path, "bg")
    pid = reports._pid
    reports.close()
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive and reports._pid is None
    assert not list(summary.out_dir.rglob(".initkit-*.tmp"))
