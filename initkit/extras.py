"""The exact command that installs one of initkit's optional extras here, for messages that say
what is missing: a checkout installed with `pip install -e` needs the checkout's path, an
installed kit the package name."""

from __future__ import annotations

from pathlib import Path


def install_command(extra: str) -> str:
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    try:
        checkout = 'name = "initkit"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        checkout = False
    if checkout:
        return f'pip install -e "{root}[{extra}]"'
    return f'pip install "initkit[{extra}]"'
