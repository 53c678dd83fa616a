"""Where the course lives: the repository root is an nbgrader course directory."""

from __future__ import annotations

import os
from pathlib import Path

from .criteria import ASSIGNMENT, NOTEBOOK

_MARKER = "nbgrader_config.py"


def course_root(start: str | os.PathLike | None = None) -> Path:
    """The course directory.

    Order: an explicit `start` (or $INITKIT_COURSE), then the nearest folder at or above the current
    directory holding nbgrader_config.py and source/, then the checkout this package was installed from.
    """
    explicit = start if start is not None else os.environ.get("INITKIT_COURSE")
    if explicit:
        root = Path(explicit).resolve()
        if not (root / _MARKER).is_file():
            raise FileNotFoundError(f"{root} is not an nbgrader course directory (no {_MARKER})")
        return root
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / _MARKER).is_file() and (folder / "source").is_dir():
            return folder
    package_checkout = Path(__file__).resolve().parent.parent
    if (package_checkout / _MARKER).is_file():
        return package_checkout
    raise FileNotFoundError(
        "no course directory found: run from the initkit checkout or set INITKIT_COURSE"
    )


def source_notebook(root: Path | None = None) -> Path:
    return (root or course_root()) / "source" / ASSIGNMENT / NOTEBOOK


def release_notebook(root: Path | None = None) -> Path:
    return (root or course_root()) / "release" / ASSIGNMENT / NOTEBOOK


def hidden_tests_dir(root: Path | None = None) -> Path:
    return (root or course_root()) / "autograder"
