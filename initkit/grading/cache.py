"""The result cache: a submission graded once is not graded again while nothing that decides its
grade has changed.

A result is stored under a key made of the submission (student, file name, bytes) and the
autograder's fingerprint: the content of every file of the installed initkit package, the
course's hidden tests and source notebook, the versions of Python, numpy and scipy, the limits and
the grading function. Change any of them and every submission is graded again.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..files import atomic_write, json_default

if TYPE_CHECKING:
    from ..course import Course
    from .result import Result

CACHE_DIR = "cache"
PACKAGE = Path(__file__).resolve().parent.parent      # the installed initkit package
VERSIONED = ("numpy", "scipy")                         # libraries whose arithmetic decides grades


def _files(folder: Path):
    """Every file under `folder`, sorted, without bytecode caches."""
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".pyo"))


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "<not installed>"


def package_digest() -> str:
    """Hash of every file of the installed initkit package: the code that grades. Part of the
    fingerprint; a Dask worker compares its own with the client's (grading/cluster.py)."""
    h = hashlib.sha256()
    for f in _files(PACKAGE):
        h.update(f.relative_to(PACKAGE).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def fingerprint(course: "Course", limits=None, grade: Callable | None = None) -> str:
    """Hash of everything that decides a grade besides the submission itself."""
    h = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())

    add("initkit", package_digest().encode())
    for name, f in course.hidden_files():
        add(name, f.read_bytes())
    add("source", course.source_notebook.read_bytes())
    add("criteria", json.dumps(course.criteria).encode())
    add("python", platform.python_version().encode())
    for module in VERSIONED:
        add(module, _version(module).encode())
    fields = asdict(limits) if is_dataclass(limits) else (vars(limits) if limits is not None else {})
    add("limits", json.dumps(fields, sort_keys=True, default=str).encode())
    if grade is not None:
        add("grade", f"{getattr(grade, '__module__', '?')}."
                     f"{getattr(grade, '__qualname__', repr(grade))}".encode())
    return h.hexdigest()


def cache_key(student: str, notebook: str, digest: str, fingerprint_: str,
              remark: str | None = None) -> str:
    """`remark`: what the result's notes say that the notebook's bytes do not (which file was
    graded and why, the folder's initkit_note.txt)."""
    text = "\0".join([fingerprint_, student, notebook, digest, *([remark] if remark else [])])
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Results as JSON files under `<out>/cache/<key>.json`, written atomically."""

    def __init__(self, out_dir: Path):
        self.folder = Path(out_dir) / CACHE_DIR

    def load(self, key: str) -> Result | None:
        return self._read(self.folder / f"{key}.json")   # None: missing or unreadable, grade again

    def results(self) -> Iterator[Result]:
        """Every readable cached result, the oldest written first (so that, of two results of
        one student and notebook, the later one wins when they are collected by student)."""
        if not self.folder.is_dir():
            return
        files = []
        for f in self.folder.glob("*.json"):
            try:
                files.append((f.stat().st_mtime_ns, f.name, f))
            except OSError:
                continue                     # pruned meanwhile
        for _, _, f in sorted(files):
            result = self._read(f)
            if result is not None:
                yield result

    @staticmethod
    def _read(path: Path) -> Result | None:
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return result if isinstance(result, dict) and "status" in result else None

    def store(self, key: str, result: Result) -> Result:
        """Write `result`; returns it as read back, so fresh and cached results are identical."""
        text = json.dumps(result, default=json_default)
        atomic_write(self.folder / f"{key}.json", text, durable=False)   # see files.sync_folder
        return json.loads(text)

    def prune(self, keep: set[str]) -> None:
        """Drop cached results no current submission uses (old versions, older autograders)."""
        if not self.folder.is_dir():
            return
        for f in self.folder.glob("*.json"):
            if f.stem not in keep:
                f.unlink(missing_ok=True)
