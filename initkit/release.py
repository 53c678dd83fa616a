"""Generate the student release with nbgrader's own API, and check the committed one is fresh.

`release/init_symmetry/` is never edited by hand: it is what `nbgrader generate_assignment`
makes from `source/init_symmetry/` with the course's `nbgrader_config.py`. `release_is_fresh`
regenerates into a temporary copy of the course and compares, so a test (and CI) fails when
someone changes the source notebook without regenerating the release.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .nbgrader_env import alembic_on_path, course_config


class ReleaseError(RuntimeError):
    """nbgrader could not generate the release; the message carries nbgrader's log."""


def _load_config(root: Path):
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise ReleaseError(f"{config_file}: missing; the course root must hold nbgrader_config.py")
    return course_config(root)


def generate_release(course_root: str | os.PathLike, assignment: str, force: bool = True) -> Path:
    """Run nbgrader's generate_assignment for the assignment; return the release folder.

    Also records the assignment's cells in the course's gradebook.db, as nbgrader always does
    (batch grading writes scores against them).
    """
    root = Path(course_root).resolve()
    source = root / "source" / assignment
    if not source.is_dir():
        raise ReleaseError(f"{source}: no source folder for assignment {assignment!r}")

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = _load_config(root)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    with alembic_on_path():
        result = api.generate_assignment(assignment, force=force, create=True)
    release = root / "release" / assignment
    if not result.get("success"):
        raise ReleaseError(
            f"nbgrader generate_assignment {assignment} failed in {root}:\n"
            f"{result.get('error') or ''}\n--- nbgrader log ---\n{result.get('log') or ''}"
        )
    if not release.is_dir():
        raise ReleaseError(f"nbgrader reported success but {release} was not written:\n{result.get('log')}")
    return release


def _normalised(path: Path) -> list[str]:
    """A file's lines for comparison; notebooks as key-sorted JSON so formatting does not matter."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        text = json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False)
    return text.splitlines(keepends=True)


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def release_is_fresh(course_root: str | os.PathLike, assignment: str) -> tuple[bool, str]:
    """(True, "") if the committed release equals a fresh generation, else (False, a unified diff)."""
    root = Path(course_root).resolve()
    committed = root / "release" / assignment
    with tempfile.TemporaryDirectory(prefix="initkit-release-") as tmp:
        copy = Path(tmp) / "course"
        (copy / "source").mkdir(parents=True)
        shutil.copy2(root / "nbgrader_config.py", copy / "nbgrader_config.py")
        shutil.copytree(root / "source" / assignment, copy / "source" / assignment)
        fresh = generate_release(copy, assignment)

        old, new = _files(committed), _files(fresh)
        diff: list[str] = []
        for name in sorted(set(old) | set(new)):
            a = _normalised(old[name]) if name in old else []
            b = _normalised(new[name]) if name in new else []
            if a != b:
                diff.extend(difflib.unified_diff(
                    a, b, fromfile=f"committed release/{assignment}/{name}",
                    tofile=f"fresh release/{assignment}/{name}"))
    if not old:
        diff.insert(0, f"{committed}: no committed release; run `initkit release`\n")
    return (not diff, "".join(diff))
