"""initkit.files: atomic writes, with or without their own fsync, and the batch's one sync."""

import os

import pytest

from initkit import files


@pytest.fixture
def fsyncs(monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    return calls


def test_durable_write_fsyncs_and_replaces(tmp_path, fsyncs):
    target = tmp_path / "sub" / "page.html"
    files.atomic_write(target, "first")
    files.atomic_write(target, "second")
    assert target.read_text() == "second"
    assert len(fsyncs) == 2
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]     # no temp file left


def test_batch_write_skips_fsync_and_sync_folder_flushes(tmp_path, fsyncs):
    for i in range(5):
        files.atomic_write(tmp_path / f"r{i}.json", b"{}", durable=False)
    assert fsyncs == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"r{i}.json" for i in range(5)]
    files.sync_folder(tmp_path)                   # one call for the lot; returns normally
    files.sync_folder(tmp_path / "missing")       # nothing to sync: no error


def test_text_with_a_lone_surrogate_is_written(tmp_path):
    files.atomic_write(tmp_path / "x.txt", "a\udcffb", durable=False)
    assert (tmp_path / "x.txt").read_bytes() == b"a\\udcffb"
