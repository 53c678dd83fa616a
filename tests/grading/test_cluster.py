"""Grading on a dask.distributed cluster: real scheduler and worker processes (a LocalCluster
with nannies), a worker killed mid-batch, a submission that kills its worker, an unreachable
scheduler, and the same grades as a local run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time

import pytest

from fakes import (ASSIGNMENT, CRITERIA, REPO, add, copy_real_course, example_score, fake_submission,
                   make_course, raising_grade, run, scores)
from initkit.reports.tables import num
from initkit import cli
from initkit.bundle import CourseBundle
from initkit.course import Course
from initkit.grading.batch import grade_batch
from initkit.grading.cluster import ClusterError, GraderPlugin, connect

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread workers in their own processes, each under a nanny (which restarts it)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as c:
        yield c


def _worker_pids(address: str) -> dict[str, int]:
    with distributed.Client(address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        return client.run(os.getpid)


def test_cluster_grades_exactly_as_a_local_run(cluster, tmp_path):
    """The example submissions with the real grader: same scores, criteria and messages as the
    local pool; the workers graded from their own copy of the bundle, in the sandbox."""
    course = Course.open(REPO, ASSIGNMENT)
    examples = tmp_path / "examples"        # all but the infinite loop (its cost is the timeout)
    shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted", examples,
                    ignore=lambda folder, names: ["infinite_loop"])
    local = grade_batch(course, tmp_path / "local", submissions_dir=examples, progress=False)
    remote = grade_batch(course, tmp_path / "remote", submissions_dir=examples, progress=False,
                         scheduler=cluster.scheduler_address)

    def comparable(result):
        return (result["student"], result["status"], result["score"], result["criteria"],
                [(t["name"], t["outcome"], t["message"]) for t in result["tests"]],
                result["error"])

    assert [comparable(r) for r in remote.results] == [comparable(r) for r in local.results]
    graded = [r for r in remote.results if r["status"] == "graded"]
    assert len(graded) == 8 and {r["isolation"] for r in graded} == {local.graded[0]["isolation"]}
    by_student = {r["student"]: r["score"] for r in remote.results}
    assert by_student == {s: example_score(s) for s in by_student}
    # The cache is the same as a local run's: a second run on the cluster grades nothing.
    again = grade_batch(course, tmp_path / "remote", submissions_dir=examples, progress=False,
                        scheduler=cluster.scheduler_address)
    assert again.reused == 9 and again.graded_now == 0


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing(cluster, tmp_path):
    course = make_course(tmp_path / "course")
    for i in range(16):
        add(course, f"s{i:02d}", fake_submission(fail=["cost"] if i % 3 == 0 else (), sleep=0.4))
    expected = scores(run(course, tmp_path / "local"))
    pids = _worker_pids(cluster.scheduler_address)

    def kill_one_worker():
        time.sleep(1.5)                   # a few results are in, others are running or queued
        os.kill(next(iter(pids.values())), signal.SIGKILL)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    summary = run(course, tmp_path / "remote", scheduler=cluster.scheduler_address)
    killer.join()
    assert scores(summary) == expected
    assert not summary.errors
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        assert set(client.run(os.getpid).values()) != set(pids.values())   # one was replaced


def test_a_submission_that_kills_its_worker_twice_gets_an_error_row(cluster, tmp_path):
    course = make_course(tmp_path / "course")
    for i in range(6):
        add(course, f"s{i}", fake_submission(sleep=0.1))
    add(course, "poison", fake_submission(crash=True))     # os._exit in the grading process
    summary = run(course, tmp_path / "out", scheduler=cluster.scheduler_address)
    rows = {r["student"]: r for r in summary.results}
    assert rows["poison"]["status"] == "error"
    assert "worker died while grading this submission (2 times" in rows["poison"]["error"]
    assert all(rows[f"s{i}"]["status"] == "graded" and rows[f"s{i}"]["score"] == sum(CRITERIA.values())
               for i in range(6))


def test_a_grader_bug_is_the_same_error_row_on_the_cluster_as_in_the_local_pool(cluster, tmp_path):
    """Both call the one wrapper (grading.result.grade_or_error_row) around the grader."""
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    add(course, "b", fake_submission(fail=["cost"]))
    local = run(course, tmp_path / "local", grade=raising_grade, workers=1)
    remote = run(course, tmp_path / "remote", grade=raising_grade, scheduler=cluster.scheduler_address)

    def rows(summary):
        return [(r["student"], r["status"], r["score"], r["error"]) for r in summary.results]

    assert rows(remote) == rows(local)
    assert [r[3].endswith("init_symmetry.ipynb: internal grading error: RuntimeError: boom")
            for r in rows(remote)] == [True, True]


def test_a_worker_that_cannot_start_the_sandbox_stops_the_batch(cluster, tmp_path):
    from fakes import broken_host
    from initkit.grading.pool import HostStartError

    course = make_course(tmp_path / "course")
    add(course, "alice", fake_submission())
    with pytest.raises(HostStartError, match="could not start the sandbox on Dask worker "
                       "tcp://.*No permissions to creating new namespace"):
        run(course, tmp_path / "out", scheduler=cluster.scheduler_address, host_factory=broken_host)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address} within 2 s"):
        connect(address, timeout=2)
    course = copy_real_course(tmp_path / "course")
    shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted" / "correct", course / "submitted" / "alice")
    code = cli.main(["grade", str(course), "--scheduler", address, "--quiet", "--no-gradebook"])
    assert code == 1
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err
    with pytest.raises(ClusterError, match="not a Dask scheduler address"):
        connect("nonsense://x", timeout=2)


@pytest.mark.slow
def test_cli_grades_on_the_cluster(cluster, tmp_path, capsys):
    real = copy_real_course(tmp_path / "course")
    for student in ("correct", "zero_init_only"):
        shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted" / student, real / "submitted" / student)
    code = cli.main(["grade", str(real), "--scheduler", cluster.scheduler_address, "--quiet",
                     "--no-gradebook"])
    assert code == 0, capsys.readouterr().err
    rows = (real / "grading-output" / ASSIGNMENT / "grades.csv").read_text().splitlines()
    assert [row.split(",")[:2] for row in rows[1:]] == [
        ["correct", num(example_score("correct"))], ["zero_init_only", num(example_score("zero_init_only"))]]


def test_workers_see_only_the_bundle(tmp_path):
    """The bundle holds the hidden tests and the source notebook, nothing else of the course, and
    a worker opens its own copy."""
    course = Course.open(REPO, ASSIGNMENT)
    bundle = CourseBundle.of(course)
    names = [name for name, _ in bundle.files]
    assert f"source/{ASSIGNMENT}/{course.notebook}" in names
    assert all(n.startswith(("autograder/", "source/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    plugin = GraderPlugin(bundle, None, None, package=_package())
    plugin.setup()
    try:
        assert plugin.course.root != course.root
        assert plugin.course.criteria == course.criteria
        assert plugin.course.layout == course.layout
        assert not (plugin.course.root / "submitted").exists()
    finally:
        plugin.teardown()
    assert not plugin.course.root.exists()


def test_a_worker_with_another_initkit_refuses(tmp_path):
    course = Course.open(REPO, ASSIGNMENT)
    plugin = GraderPlugin(CourseBundle.of(course), None, None, package="0" * 64)
    with pytest.raises(ClusterError, match="different initkit installed"):
        plugin.setup()


def _package() -> str:
    from initkit.grading.cluster import package_digest

    return package_digest()
