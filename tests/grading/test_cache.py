"""The result cache's key: everything that decides a grade is in it, so changing any of it
regrades; nothing else is, so an unchanged course and kit reuse every result."""

from __future__ import annotations

import shutil

import pytest

from fakes import copy_real_course
from initkit.course import Course
from initkit.grading import cache
from initkit.sandbox import Limits


@pytest.fixture
def course(tmp_path):
    return Course.open(copy_real_course(tmp_path / "course"), "init_symmetry")


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A copy of the installed initkit package standing in for it."""
    copy = tmp_path / "initkit"
    shutil.copytree(cache.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "PACKAGE", copy)
    return copy


def test_same_inputs_same_key(course, package):
    assert cache.fingerprint(course, Limits()) == cache.fingerprint(course, Limits())


def _edit(path):
    path.write_bytes(path.read_bytes() + b"\n# edited\n")


@pytest.mark.parametrize("change", [
    "package module", "package template or data file", "new package file", "hidden test",
    "hidden test helper", "source notebook", "python", "numpy", "scipy", "limits", "grade function",
])
def test_every_input_changes_the_key(course, package, monkeypatch, change):
    before = cache.fingerprint(course, Limits(), cache.fingerprint)
    if change == "package module":
        _edit(package / "sandbox" / "inside" / "wire.py")
    elif change == "package template or data file":
        (package / "reports" / "templates").mkdir(exist_ok=True)
        (package / "reports" / "templates" / "page.txt").write_text("x")
    elif change == "new package file":
        (package / "grading" / "extra.py").write_text("X = 1\n")
    elif change == "hidden test":
        _edit(course.hidden_tests / "test_init.py")
    elif change == "hidden test helper":
        _edit(course.hidden_tests.parent / "_checks.py")        # shared by every assignment
    elif change == "source notebook":
        _edit(course.source_notebook)
    elif change == "python":
        monkeypatch.setattr(cache.platform, "python_version", lambda: "3.99.0")
    elif change in ("numpy", "scipy"):
        real = cache._version
        monkeypatch.setattr(cache, "_version", lambda m: "0.0.1" if m == change else real(m))
    after = cache.fingerprint(course, Limits(call_timeout=1.0) if change == "limits" else Limits(),
                              (lambda: None) if change == "grade function" else cache.fingerprint)
    assert after != before, change


def test_another_assignments_hidden_tests_do_not_change_the_key(course):
    before = cache.fingerprint(course)
    other = course.hidden_tests.parent / "another_assignment"
    other.mkdir()
    (other / "test_other.py").write_text("X = 1\n")
    assert cache.fingerprint(course) == before


def test_bytecode_caches_do_not_change_the_key(course, package):
    before = cache.fingerprint(course)
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 16)
    (course.hidden_tests / "__pycache__").mkdir(exist_ok=True)
    (course.hidden_tests / "__pycache__" / "y.pyc").write_bytes(b"\1")
    assert cache.fingerprint(course) == before


def test_the_installed_package_is_what_is_hashed():
    import initkit

    assert cache.PACKAGE == __import__("pathlib").Path(initkit.__file__).resolve().parent


def test_cache_round_trip_and_prune(tmp_path):
    store = cache.ResultCache(tmp_path)
    result = {"status": "graded", "score": 1.5}
    assert store.store("k1", result) == result and store.load("k1") == result
    store.store("k2", result)
    (store.folder / "k3.json").write_text("{broken")
    assert store.load("k3") is None and store.load("missing") is None
    store.prune({"k1"})
    assert sorted(p.stem for p in store.folder.glob("*.json")) == ["k1"]


def test_the_cache_lists_its_results_oldest_first(tmp_path):
    """ResultCache.results: every readable result, oldest written first (what `initkit feedback`
    reads the students' code from), without globbing the folder from outside."""
    import os

    store = cache.ResultCache(tmp_path)
    assert list(store.results()) == []                       # no folder yet
    for key, when in (("b", 3), ("a", 2), ("c", 1)):
        store.store(key, {"status": "graded", "student": key})
        os.utime(store.folder / f"{key}.json", ns=(when * 10**9, when * 10**9))
    (store.folder / "d.json").write_text("{broken")
    (store.folder / "e.json").write_text('["not a result"]')
    assert [r["student"] for r in store.results()] == ["c", "a", "b"]
