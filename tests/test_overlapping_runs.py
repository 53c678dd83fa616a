"""Overlapping runs: one run per output folder (a second says who is running, or waits), a killed
run's lock is taken over, and gradebook writes survive other writers (formgrader, a second run)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, CRITERIA, REPO, add, copy_real_course, fake_submission, make_course, run
from initkit.reports.tables import num
from initkit.lock import LOCK_FILE, RunLocked, output_lock

TESTS = Path(__file__).resolve().parent


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding the lock of `folder` until it is killed."""
    code = textwrap.dedent(f"""
        import time
        from initkit.lock import output_lock
        with output_lock({str(folder)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_says_who_holds_the_lock(tmp_path):
    holder = _hold_lock(tmp_path)
    try:
        with pytest.raises(RunLocked) as info:
            with output_lock(tmp_path):
                pass
        message = str(info.value)
        assert f"pid {holder.pid} on " in message and "since " in message and "--wait" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_runs_lock_is_taken_over_and_wait_waits(tmp_path):
    holder = _hold_lock(tmp_path)
    told: list[str] = []
    threading.Timer(1.0, lambda: os.kill(holder.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with output_lock(tmp_path, wait=True, poll=0.05, on_wait=told.append):
        waited = time.monotonic() - started
        assert f"pid {os.getpid()}" in _lock_text(tmp_path) or str(os.getpid()) in _lock_text(tmp_path)
    holder.wait()
    assert 0.8 < waited < 10
    assert len(told) == 1 and f"pid {holder.pid}" in told[0]
    assert _lock_text(tmp_path) == ""          # released: nothing claims it


def test_a_stale_lock_file_is_not_waited_on(tmp_path):
    (tmp_path / LOCK_FILE).write_text('{"pid": 999999, "host": "gone", "started": "yesterday"}')
    with output_lock(tmp_path):               # nobody holds the flock: taken over at once
        assert '"pid": 999999' not in _lock_text(tmp_path)


def _lock_text(folder: Path) -> str:
    return (folder / LOCK_FILE).read_text()


@pytest.mark.slow
def test_gradebook_writes_wait_for_another_writer(tmp_path, monkeypatch):
    """formgrader (or nbgrader) holding a write transaction for 11 s, longer than SQLite's
    default wait of 5 s: the gradebook writer waits, then writes, and keeps the other change."""
    from nbgrader.api import Gradebook

    from initkit.reports.gradebook import write_gradebook

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "ann", fake_submission())
    run(course, gradebook=None)                                  # the database exists now
    add(course, "bob", fake_submission(fail=["cost"]))
    summary = run(course, gradebook=False)
    db = course / "gradebook.db"
    holding = threading.Event()

    def other_writer():
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE student SET first_name = 'Ann' WHERE id = 'ann'")
        holding.set()
        time.sleep(11)     # longer than two of SQLite's default 5 s waits
        conn.execute("COMMIT")
        conn.close()

    from initkit.reports import gradebook

    writer = threading.Thread(target=other_writer)
    real_write_rows = gradebook._write_rows

    def write_rows_once_the_other_holds_the_lock(*args):
        if not writer.is_alive() and not holding.is_set():
            writer.start()
            holding.wait(10)
        return real_write_rows(*args)

    monkeypatch.setattr(gradebook, "_write_rows", write_rows_once_the_other_holds_the_lock)
    started = time.monotonic()
    written = write_gradebook(summary.results, summary.course)
    waited = time.monotonic() - started
    writer.join()
    assert waited > 10                                           # it waited for the other
    assert written.failed == {}
    with Gradebook(f"sqlite:///{db}", course_id="initkit-test") as gb:
        assert gb.find_submission(ASSIGNMENT, "bob").score == 95
        assert gb.find_student("ann").first_name == "Ann"          # the other writer's change kept


WRITE_AT_ONCE = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from fakes import run
from initkit.reports.gradebook import write_gradebook
summary = run(Path({course!r}), gradebook=False, out_dir=Path({out!r}), workers=1)
import nbgrader.api                      # (slow to import: not part of the race)
Path({ready!r}).touch()
while not Path({go!r}).exists():
    time.sleep(0.001)
written = write_gradebook(summary.results, summary.course)
print(len(written.failed))
print(sorted(set(written.failed.values()))[:3], file=sys.stderr)
"""


@pytest.mark.slow
def test_two_runs_writing_one_gradebook_at_once(tmp_path):
    """Two runs (different output folders, one gradebook) adding the same 300 new students at
    the same moment: both finish, no IntegrityError, every grade recorded once."""
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "course")
    for i in range(300):
        add(course, f"s{i:03d}", fake_submission(fail=["cost"] if i % 2 else [], note=str(i)))
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITE_AT_ONCE.format(
                 tests=str(TESTS), course=str(course), out=str(tmp_path / f"out{k}"),
                 ready=str(tmp_path / f"ready{k}"), go=str(go))],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 env={**os.environ, "INITKIT_FAKE_LOG": str(tmp_path / f"calls{k}.log")})
             for k in range(2)]
    deadline = time.monotonic() + 240
    while not all((tmp_path / f"ready{k}").exists() for k in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-3000:] for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == ["0", "0"], [err[-2000:] for _, err in outputs]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        subs = gb.assignment_submissions(ASSIGNMENT)
        assert len(subs) == 300
        assert {s.student.id: s.score for s in subs} == {
            f"s{i:03d}": (95 if i % 2 else 100) for i in range(300)}


def _initkit(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "initkit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


@pytest.mark.slow
def test_overlapping_grade_commands(tmp_path):
    """The real command: a second run is refused while the first grades, a third waits; the first
    is killed mid-way; the waiting one takes over and finishes with every output."""
    course = copy_real_course(tmp_path / "course")
    examples = REPO / "examples" / ASSIGNMENT / "submitted"
    for student in ("correct", "he_uses_1_over_fan_in", "infinite_loop", "broken_upload"):
        for f in (examples / student).rglob("*.ipynb"):
            target = course / "submitted" / f.relative_to(examples)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())
    out = tmp_path / "out"
    common = [str(course), "--out", str(out), "--no-gradebook", "--workers", "1", "--quiet"]
    first = _initkit("grade", *common)
    deadline = time.monotonic() + 60
    while not ((out / LOCK_FILE).is_file() and _lock_text(out)):
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = _initkit("grade", *common)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 75, err
    assert f"pid {first.pid}" in err and "another initkit run is writing here" in err
    third = _initkit("grade", *common, "--wait")
    time.sleep(1.0)
    assert third.poll() is None                          # waiting for the first
    os.killpg(first.pid, signal.SIGKILL)                 # the first dies mid-way
    first.wait()
    stdout, err = third.communicate(timeout=300)
    assert third.returncode == 3, err                    # graded, with errors (the broken upload)
    assert "waiting for the run that holds it" in err
    assert "graded 3   errors 1" in stdout
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 5 and any(r.startswith("correct,100,") for r in rows)
    for student in ("correct", "he_uses_1_over_fan_in", "infinite_loop", "broken_upload"):
        assert (out / "feedback" / student / ASSIGNMENT / "init_symmetry.html").is_file()


# --------------------------------------------------------------------------- every writer locks


def _page_score(page: Path) -> str:
    """The auto-graded score a feedback page shows."""
    import re

    found = re.search(r"uto-graded part (?:<span class=\"score\">)?([\d.]+) / ", page.read_text())
    assert found, page
    return found.group(1)


def _release_in(holder: subprocess.Popen, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(holder.pid, signal.SIGKILL))
    timer.start()
    return timer


def test_feedback_refuses_a_locked_output_folder_and_waits_with_wait(tmp_path, monkeypatch, capsys):
    from initkit import cli, files

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "ann", fake_submission(fail=["cost"]))
    out = course / "out"
    run(course, gradebook=None)
    written: list[str] = []
    real_write = files.atomic_write
    monkeypatch.setattr(files, "atomic_write", lambda path, *a, **k: (written.append(str(path)),
                                                                      real_write(path, *a, **k))[1])
    holder = _hold_lock(out)
    try:
        started = time.monotonic()
        assert cli.main(["feedback", str(course), "--out", str(out)]) == 75
        err = capsys.readouterr().err
        assert err.startswith("initkit feedback: ") and "another initkit run is writing here" in err
        assert f"pid {holder.pid}" in err and "--wait" in err
        assert written == [] and time.monotonic() - started < 30     # refused before any work
        _release_in(holder, 1.0)
        started = time.monotonic()
        assert cli.main(["feedback", str(course), "--out", str(out), "--wait"]) == 0
        assert time.monotonic() - started > 0.8                     # it waited for the holder
    finally:
        holder.kill()
        holder.wait()
    assert "waiting for the run that holds it" in capsys.readouterr().err
    assert written == [str(out / "feedback" / "ann" / ASSIGNMENT / "init_symmetry.html")]
    assert _lock_text(out) == ""


def test_feedback_without_results_is_a_course_error_and_creates_nothing(tmp_path, capsys):
    from initkit import cli

    course = make_course(tmp_path / "course")
    assert cli.main(["feedback", str(course), "--out", str(tmp_path / "none")]) == 2
    assert "no results to write feedback from" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_audit_refuses_a_locked_output_folder_and_waits_with_wait(tmp_path, monkeypatch, capsys):
    """`initkit audit --out DIR` grades into DIR: it takes DIR's lock (75 at once, before any
    mutant is made; --wait waits). Cut to a fairness check of the reference alone to be quick."""
    from initkit import cli
    from initkit.audit import run as audit_run

    pytest.importorskip("mutmut")
    calls_made: list[Path] = []
    real = audit_run._audit_locked

    def reference_only(course, started, folder, out, **options):
        calls_made.append(out)
        return real(course, started, folder, out, **{**options, "functions": [],
                                                      "only_origins": ["reference"]})

    monkeypatch.setattr(audit_run, "_audit_locked", reference_only)
    out = tmp_path / "audit-out"
    common = ["audit", str(REPO), "--assignment", ASSIGNMENT, "--out", str(out), "--workers", "1", "--quiet"]
    holder = _hold_lock(out)
    try:
        started = time.monotonic()
        assert cli.main(common) == 75
        err = capsys.readouterr().err
        assert err.startswith("initkit audit: ") and "another initkit run is writing here" in err
        assert f"pid {holder.pid}" in err
        assert calls_made == [] and time.monotonic() - started < 30
        _release_in(holder, 1.0)
        started = time.monotonic()
        assert cli.main([*common, "--wait"]) == 0
        assert time.monotonic() - started > 0.8
    finally:
        holder.kill()
        holder.wait()
    out_text, err = capsys.readouterr()
    assert "waiting for the run that holds it" in err
    assert calls_made == [out] and "mutation score" in out_text
    assert list((out / "cache").glob("*.json"))                    # it graded into its folder


GRADE = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from fakes import run
run(Path({course!r}), gradebook=None, workers=1)
"""


def test_feedback_never_writes_a_stale_page_while_grade_holds_the_lock(tmp_path, monkeypatch, capsys):
    """The issue's race: ann resubmits (95 -> 100) and a grade run is going (zed, slow, still
    grading after ann's new page is written). `initkit feedback` meanwhile would write ann's page
    from the last grades.json (95). Now it is refused (75) and writes nothing; with --wait it
    writes after the run, from its results: the page and grades.json agree."""
    from initkit import cli, files

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    add(course, "ann", fake_submission(fail=["cost"]))
    add(course, "zed", fake_submission())
    out = course / "out"
    run(course, gradebook=None, workers=1)
    ann_page = out / "feedback" / "ann" / ASSIGNMENT / "init_symmetry.html"
    assert _page_score(ann_page) == "95"
    add(course, "ann", fake_submission(note="fixed"))                   # 100 now
    add(course, "zed", fake_submission(note="again", sleep=4.0))        # graded after ann, slowly
    grading = subprocess.Popen([sys.executable, "-c", GRADE.format(tests=str(TESTS), course=str(course))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "INITKIT_FAKE_LOG": str(tmp_path / "calls2.log")})
    try:
        deadline = time.monotonic() + 120
        while not (_lock_text(out) and _page_score(ann_page) == num(sum(CRITERIA.values()))):   # ann's new page is out
            assert time.monotonic() < deadline and grading.poll() is None, grading.communicate()
            time.sleep(0.05)
        assert grading.poll() is None                                   # zed is still grading
        written: list[str] = []
        real_write = files.atomic_write
        monkeypatch.setattr(files, "atomic_write", lambda path, *a, **k: (
            written.append(str(path)), real_write(path, *a, **k))[1])
        assert cli.main(["feedback", str(course), "--out", str(out)]) == 75
        assert written == [] and _page_score(ann_page) == num(sum(CRITERIA.values()))
        assert cli.main(["feedback", str(course), "--out", str(out), "--wait"]) == 0
        assert grading.wait(timeout=60) == 0, grading.communicate()
    finally:
        if grading.poll() is None:
            grading.kill()
        grading.wait()
    assert "waiting for the run that holds it" in capsys.readouterr().err
    assert str(ann_page) in written
    saved = {r["student"]: r["score"] for r in json.loads((out / "grades.json").read_text())["submissions"]}
    assert saved == {"ann": 100, "zed": 100}
    assert _page_score(ann_page) == num(sum(CRITERIA.values()))
    assert ann_page.stat().st_mtime_ns >= (out / "grades.json").stat().st_mtime_ns
