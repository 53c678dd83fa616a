"""An assignment's example submissions, built from its release notebook.

Each `examples/<assignment>/make_examples.py` names its examples (each a dict of answer
functions a student might write instead of the instructor's) and hands them to `main`: the
notebooks are the release with every answer filled in (initkit.solutions.make_submission), then
those functions replaced; one more is the correct notebook cut off halfway (not valid JSON).
`initkit check` and the kit's tests call the script's `build()` and `stale()`, so the committed
files follow the release notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping

BROKEN = "broken_upload"    # the correct notebook cut off halfway: not valid JSON


def build(root: Path, assignment: str, examples: Mapping[str, Mapping[str, str]]) -> dict[str, bytes]:
    """Relative path under examples/<assignment>/submitted/ -> file content."""
    import nbformat

    from .course import Course
    from .solutions import make_submission

    course = Course.open(root, assignment)
    files = {}
    for student, overrides in examples.items():
        text = nbformat.writes(make_submission(course, dict(overrides))) + "\n"
        files[f"{student}/{assignment}/{course.notebook}"] = text.encode("utf-8")
    correct = files[f"correct/{assignment}/{course.notebook}"]
    files[f"{BROKEN}/{assignment}/{course.notebook}"] = correct[: len(correct) // 2]
    return files


def stale(out: Path, files: Mapping[str, bytes]) -> list[str]:
    """Paths under `out` that differ from `files` (missing, different, or no longer made)."""
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} \
        if out.is_dir() else set()
    wrong = [rel for rel, data in files.items()
             if rel not in on_disk or (out / rel).read_bytes() != data]
    return sorted(wrong + sorted(on_disk - set(files)))


def write(out: Path, files: Mapping[str, bytes]) -> None:
    """Make `out` hold exactly `files` (older examples removed)."""
    if out.is_dir():
        for p in sorted(out.rglob("*"), reverse=True):
            rel = p.relative_to(out).as_posix()
            if p.is_file() and rel not in files:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main(script: str, assignment: str, examples: Mapping[str, Mapping[str, str]],
         argv: list[str] | None = None) -> int:
    """The command line of `examples/<assignment>/make_examples.py` (its `__file__` as `script`):
    write the examples, or with --check exit 1 naming the stale files."""
    here = Path(script).resolve().parent
    out, root = here / "submitted", here.parent.parent
    parser = argparse.ArgumentParser(description=f"Build the example submissions of {assignment}.")
    parser.add_argument("--check", action="store_true", help="only check the committed files")
    args = parser.parse_args(argv)
    files = build(root, assignment, examples)
    if args.check:
        wrong = stale(out, files)
        for rel in wrong:
            print(f"stale: {out / rel}", file=sys.stderr)
        return 1 if wrong else 0
    write(out, files)
    print(f"wrote {len(files)} example submissions to {out}")
    return 0
