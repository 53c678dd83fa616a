"""grading.cpus: each grading worker (a process, or a Dask worker's thread) gets a CPU of its
own for itself and its sandbox; never one another worker on the machine holds."""

from __future__ import annotations

import os
import threading

import pytest

from initkit.grading import cpus

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="needs two CPUs")


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_threads_get_distinct_cpus_until_none_is_left(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    available = sorted(os.sched_getaffinity(0))
    claims = []
    barrier = threading.Barrier(len(available) + 2)     # the claimants and this thread

    def claim():
        cpu = cpus.pin_to_free_cpu()
        claims.append((cpu, sorted(os.sched_getaffinity(0))))
        barrier.wait()           # every claimant holds its CPU until all have tried
        barrier.wait()
        cpus.release()
        return sorted(os.sched_getaffinity(0))

    threads = [threading.Thread(target=claim) for _ in range(len(available) + 1)]
    for t in threads:
        t.start()
    barrier.wait()
    got = sorted((c for c, _ in claims if c is not None))
    assert got == available                                   # one each, all different
    assert [c for c, _ in claims].count(None) == 1             # one thread too many: not pinned
    assert all(aff == [c] for c, aff in claims if c is not None)
    barrier.wait()
    for t in threads:
        t.join()
    assert _in_thread(cpus.pin_to_free_cpu) == available[0]   # released: free again


def test_a_claim_ends_with_its_process(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if cpus.pin_to_free_cpu() is not None else 1)
    assert os.waitpid(pid, 0)[1] == 0
    cpu = _in_thread(cpus.pin_to_free_cpu)
    assert cpu == sorted(os.sched_getaffinity(0))[0]


def test_pinning_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("INITKIT_PIN_WORKERS", "0")
    assert _in_thread(cpus.pin_to_free_cpu) is None
