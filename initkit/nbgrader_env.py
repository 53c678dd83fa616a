"""What every call into nbgrader needs: the course's own config, and nbgrader's `alembic` command
on PATH. Shared by the release generator and the gradebook writer."""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path


def course_config(root: Path):
    """The course's nbgrader_config.py (an empty config if there is none), with the course root
    set explicitly, so a copied course (release_is_fresh) never writes into the original."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config_file = root / "nbgrader_config.py"
    if config_file.is_file():
        config.merge(PyFileConfigLoader(config_file.name, path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    return config


@contextmanager
def alembic_on_path():
    """nbgrader runs the `alembic` command when it creates a gradebook; an un-activated venv
    (`.venv/bin/initkit ...`, `.venv/bin/python`) has it next to the interpreter but not on PATH."""
    here = str(Path(sys.executable).parent)
    if shutil.which("alembic") or not (Path(here) / "alembic").exists():
        yield
        return
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = here + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old
