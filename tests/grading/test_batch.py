"""Batch grading: discovery, bad input, resumption, determinism, crashed and hung workers.

Most tests inject `fake_grade` (fast, and it can crash or hang on demand); a few end-to-end tests
use the real autograder on submissions made from the release notebook.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from fakes import (ASSIGNMENT, CRITERIA, REPO, add, calls, fake_grade, fake_submission, make_course,
                   raising_grade, run, scores)
from initkit.grading import batch, pool
from initkit.grading import discover as discovery
from initkit.handin import HandIn
from initkit.submission import SubmissionError

FULL = sum(CRITERIA.values())     # the fake course has the real course's points

@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    return make_course(tmp_path / "course")


# --------------------------------------------------------------------------- tests (fake grader)


def test_discovery_errors_and_graded_rows(course):
    add(course, "alice", fake_submission())
    add(course, "bob", fake_submission(fail=["he_variance", "cost"]))
    (course / "submitted" / "carol" / ASSIGNMENT).mkdir(parents=True)          # no notebook
    add(course, "dave", fake_submission(), "a.ipynb")
    add(course, "dave", fake_submission(), "b.ipynb")                          # two notebooks
    add(course, "erin", "{ not json")
    (course / "submitted" / "frank" / "other_assignment").mkdir(parents=True)  # did not submit
    summary = run(course)
    rows = {r["student"]: r for r in summary.results}
    assert list(rows) == ["alice", "bob", "carol", "dave", "erin"]
    assert rows["alice"]["score"] == FULL and rows["alice"]["status"] == "graded"
    assert rows["bob"]["score"] == FULL - CRITERIA["he_variance"] - CRITERIA["cost"]
    assert rows["carol"]["status"] == "error" and "carol" in rows["carol"]["error"]
    assert "no notebook" in rows["carol"]["error"]
    assert rows["dave"]["status"] == "error" and "2 notebooks" in rows["dave"]["error"]
    assert "dave" in rows["dave"]["error"]
    assert rows["erin"]["status"] == "error"
    for r in rows.values():
        assert list(r["criteria"]) == list(CRITERIA)
    assert summary.most_failed() == [("he_variance", 1), ("cost", 1)]
    assert len(summary.errors) == 3 and len(summary.graded) == 2


def test_second_run_grades_nothing_and_force_regrades(course):
    for s in ["a", "b", "c"]:
        add(course, s, fake_submission(note=s))
    first = run(course)
    assert first.graded_now == 3 and calls(course) == ["a", "b", "c"]
    second = run(course)
    assert second.graded_now == 0 and second.reused == 3 and calls(course) == ["a", "b", "c"]
    assert scores(first) == scores(second)
    add(course, "b", fake_submission(fail=["update"], note="b2"))               # b resubmits
    third = run(course)
    assert third.graded_now == 1 and calls(course) == ["a", "b", "b", "c"]
    assert scores(third)["b"][1] == FULL - CRITERIA["update"]
    forced = run(course, force=True)
    assert forced.graded_now == 3


def test_autograder_change_invalidates_cache(course, monkeypatch):
    add(course, "a", fake_submission())
    run(course)
    monkeypatch.setattr(batch, "fingerprint", lambda course, limits, grade: "changed")
    assert run(course).graded_now == 1


def test_worker_count_does_not_change_scores(course):
    for i in range(8):
        add(course, f"s{i}", fake_submission(fail=list(CRITERIA)[: i % 4], note=str(i)))
    one = run(course, workers=1, force=True)
    two = run(course, workers=2, force=True)
    assert scores(one) == scores(two)
    assert (course / "out" / "grades.csv").read_text().count("\n") == 9


def test_interrupted_run_resumes(course):
    # A shell that starts us in the background (as CI may) leaves SIGINT ignored, and then Python
    # installs no KeyboardInterrupt handler: install it, as an interactive terminal has it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _interrupted_run_resumes(course)
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted_run_resumes(course):
    for s in ["a", "b", "c", "d", "e"]:
        add(course, s, fake_submission(interrupt=(s == "c"), note=s))
    with pytest.raises(KeyboardInterrupt):
        run(course, workers=1)
    done = calls(course)
    assert done[:3] == ["a", "b", "c"] and "e" not in done
    cached = len(list((course / "out" / "cache").glob("*.json")))
    assert cached >= 2                                   # a and b were persisted as they finished
    # resume: the rest is graded, nothing finished before is graded again
    for s in ["c"]:
        add(course, s, fake_submission(note=s))          # (no second Ctrl-C this time)
    Path(os.environ["INITKIT_FAKE_LOG"]).unlink()
    summary = run(course, workers=1)
    assert "a" not in calls(course) and "b" not in calls(course)
    assert sorted(calls(course)) == ["c", "d", "e"] and summary.graded_now == 3
    assert [r["score"] for r in summary.results] == [100] * 5
    assert not list((course / "out").rglob("*.tmp"))   # no half-written files


def test_crashing_worker_costs_one_row(course):
    for s in ["a", "b", "c", "d"]:
        add(course, s, fake_submission(crash=(s == "b"), note=s))
    summary = run(course, workers=2)
    rows = {r["student"]: r for r in summary.results}
    assert rows["b"]["status"] == "error" and "worker process died" in rows["b"]["error"]
    assert all(rows[s]["score"] == FULL for s in "acd")


def test_hung_worker_is_killed_by_watchdog(course):
    add(course, "a", fake_submission())
    add(course, "b", fake_submission(hang=True))
    start = time.monotonic()
    summary = run(course, workers=2, watchdog=2.0)
    assert time.monotonic() - start < 30
    rows = {r["student"]: r for r in summary.results}
    assert rows["a"]["score"] == FULL
    assert rows["b"]["status"] == "error" and "timed out" in rows["b"]["error"]
    assert len(summary.timeouts) == 1


def test_grader_exception_is_a_row(course):
    add(course, "a", fake_submission())
    summary = run(course, grade=raising_grade, workers=1)
    assert summary.results[0]["status"] == "error"
    assert summary.results[0]["error"] == (f"{course / 'submitted' / 'a' / ASSIGNMENT / 'init_symmetry.ipynb'}: "
                                           "internal grading error: RuntimeError: boom")


def test_one_wrapper_turns_a_grader_exception_into_an_error_row(caplog):
    """result.grade_or_error_row: what the pool, the cluster and Gradescope each call around the
    grader. A bug costs its row (every criterion 0, the reason) and logs the traceback."""
    from initkit.course import Course
    from initkit.grading.result import grade_or_error_row

    fake = Course.open(REPO, ASSIGNMENT)
    ok = {"status": "graded"}
    assert grade_or_error_row(lambda: ok, fake, student="a", notebook="n.ipynb", shown="x") is ok

    def bug():
        raise KeyError("tests")

    with caplog.at_level("ERROR", logger="initkit"):
        row = grade_or_error_row(bug, fake, student="a", notebook="n.ipynb", shown="a/n.ipynb")
    assert row["status"] == "error" and row["student"] == "a" and row["notebook"] == "n.ipynb"
    assert row["error"] == "a/n.ipynb: internal grading error: KeyError: 'tests'"
    assert row["score"] == 0 and set(row["criteria"]) == set(CRITERIA) and row["tests"] == []
    assert "a/n.ipynb: internal grading error" in caplog.text and "Traceback" in caplog.text
    assert 'raise KeyError("tests")' in caplog.text


def test_a_grader_that_does_not_say_it_needs_no_hidden_tests_gets_them_checked(course):
    """The real grader's set-up (hidden tests, reference) is checked once before any worker
    starts, for every grade function but those that declare `uses_course_tests = False`; the
    fake course has no hidden tests, so an undeclared grader stops the batch there."""
    from initkit.course import CourseError

    def undeclared(hand_in, course, *, host=None, limits=None):
        raise AssertionError("never called")

    add(course, "a", fake_submission())
    with pytest.raises(CourseError, match="no hidden test for criteria"):
        run(course, grade=undeclared)
    assert batch.uses_course_tests(batch.default_grade) and not batch.uses_course_tests(fake_grade)


def test_plain_submissions_folder(tmp_path, course):
    plain = tmp_path / "download"
    nb = plain / "zoe" / ASSIGNMENT / "whatever.ipynb"
    nb.parent.mkdir(parents=True)
    nb.write_text(fake_submission())
    summary = run(course, submissions_dir=plain)
    assert [r["student"] for r in summary.results] == ["zoe"]
    assert (course / "out" / "feedback" / "zoe" / ASSIGNMENT / "whatever.html").is_file()


def test_missing_submissions_folder_is_a_clear_error(tmp_path, course):
    from initkit.course import CourseError

    with pytest.raises(CourseError, match="nope: submissions folder not found"):
        run(course, submissions_dir=tmp_path / "nope")
    assert not (course / "out").exists()               # nothing written before the check


def _failing_host(limits):
    raise OSError("bwrap: setting up uid map: Permission denied")


def test_sandbox_that_cannot_start_stops_the_batch_clearly(course):
    add(course, "a", fake_submission())
    with pytest.raises(pool.HostStartError, match="could not start the sandbox.*uid map"):
        run(course, host_factory=_failing_host)
    assert not list((course / "out" / "cache").glob("*.json"))      # nothing wrong was cached


def _blas_threads_grade(hand_in, course, *, host=None, limits=None):
    """Reports how many threads the worker has after a BLAS call big enough to use several."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((400, 400))
    for _ in range(3):
        a = a @ a.T / 400
    return {"threads": len(os.listdir("/proc/self/task"))}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_have_one_blas_thread(tmp_path):
    """Idle OpenBLAS threads spin: a worker beside others must not start any, even when the
    process that starts the pool loaded numpy with several (as this one has)."""
    import numpy as np
    from threadpoolctl import threadpool_info

    np.ones((300, 300)) @ np.ones((300, 300))
    if max((i["num_threads"] for i in threadpool_info()), default=1) < 2:
        pytest.skip("numpy's BLAS has one thread here anyway")
    got = []
    jobs = [discovery.Job(s, "x.ipynb", "x.ipynb", HandIn(s, "x.ipynb", b"")) for s in ("a", "b")]
    pool.run_pool(jobs, workers=2, grade=_blas_threads_grade, course=None, limits=None,
                  host_factory=None, watchdog=60.0,
                  on_result=lambda job, result: got.append(result["threads"]))
    assert got == [1, 1]


class _NoHost:
    def __init__(self, limits):
        pass

    def close(self):
        pass


def _cpus_grade(hand_in, course, *, host=None, limits=None):
    time.sleep(0.3)             # both workers get a job
    return {"cpus": tuple(sorted(os.sched_getaffinity(0)))}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs")
def test_each_worker_is_pinned_to_a_cpu_of_its_own(monkeypatch):
    """A worker and its sandbox share one CPU (pool.CpuSlots); INITKIT_PIN_WORKERS=0 leaves
    placement to the kernel."""
    def run_four():
        got = []
        jobs = [discovery.Job(s, "x.ipynb", "x.ipynb", HandIn(s, "x.ipynb", b"")) for s in "abcd"]
        pool.run_pool(jobs, workers=2, grade=_cpus_grade, course=None, limits=None,
                      host_factory=_NoHost, watchdog=60.0,
                      on_result=lambda job, result: got.append(result["cpus"]))
        return got

    pinned = run_four()
    assert all(len(cpus) == 1 for cpus in pinned) and len(set(pinned)) == 2
    monkeypatch.setenv("INITKIT_PIN_WORKERS", "0")
    assert set(run_four()) == {tuple(sorted(os.sched_getaffinity(0)))}


def test_jobs_keep_no_notebook_bytes_until_graded(course):
    """A batch holds only the submissions in flight: each job reads its notebook again just before
    grading (and a file changed since discovery is that student's error, never another file's
    grade under its cache key)."""
    add(course, "alice", fake_submission())
    add(course, "bob", fake_submission(fail=["cost"]))
    jobs = {j.student: j.without_data()
            for j in discovery.discover(course / "submitted", ASSIGNMENT, "init_symmetry.ipynb")}
    assert all(j.hand_in.data == b"" for j in jobs.values())
    original = (course / "submitted" / "alice" / ASSIGNMENT / "init_symmetry.ipynb").read_bytes()
    assert jobs["alice"].load().data == original
    add(course, "bob", fake_submission(fail=["he_variance"]))       # changed after discovery
    with pytest.raises(SubmissionError, match="changed while the batch was grading"):
        jobs["bob"].load()


def test_regrading_one_student_keeps_everyone_elses_cached_result(course):
    """`--student` regrades its students only and drops no one else's cached result: the next
    plain run grades nothing."""
    students = [f"s{i}" for i in range(6)]
    for s in students:
        add(course, s, fake_submission(note=s))
    first = run(course)
    assert first.graded_now == 6 and first.reused == 0
    add(course, "s3", fake_submission(fail=["cost"], note="s3 again"))          # s3 resubmits
    Path(os.environ["INITKIT_FAKE_LOG"]).unlink()
    again = run(course, students={"s3"})
    assert again.graded_now == 1 and calls(course) == ["s3"]
    Path(os.environ["INITKIT_FAKE_LOG"]).unlink()
    plain = run(course)
    assert plain.graded_now == 0 and plain.reused == 6 and calls(course) == []
    assert scores(plain)["s3"][1] == FULL - CRITERIA["cost"]
    assert all(scores(plain)[s][1] == FULL for s in students if s != "s3")
    # That full run dropped s3's superseded result: one cached result per submission again.
    assert len(list((course / "out" / "cache").glob("*.json"))) == 6
