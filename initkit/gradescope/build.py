"""`initkit gradescope`: a Gradescope autograder zip for one assignment of a course.

The zip (Gradescope extracts it into /autograder/source):

    setup.sh            installs Python >= 3.11, bubblewrap and initkit (from the wheel below)
    run_autograder      grades /autograder/submission -> /autograder/results/results.json
    initkit-*.whl       the installed kit (wheel.py), dependencies from PyPI at setup
    gradescope.json     what was chosen at build time: visibility, late policy, time limit,
                        isolation
    course/             the course's grading bundle (bundle.py): hidden tests and source
                        notebook only, as a minimal course folder

The archive is deterministic: the same course and options give the same bytes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import initkit

from ..bundle import CourseBundle
from ..course import Course, CourseError
from ..sandbox.limits import ISOLATIONS
from .late import LatePolicy, LatePolicyError
from .results import VISIBILITIES
from .run import COURSE, CONFIG
from .wheel import build_wheel, write_entry

TEMPLATES = Path(__file__).parent / "templates"
SCRIPTS = ("setup.sh", "run_autograder")
VENV = "/opt/initkit"                  # where setup.sh installs the kit in Gradescope's image


@dataclass(frozen=True)
class Autograder:
    """What `build_autograder` wrote."""

    path: Path
    files: tuple[str, ...]        # the zip's entries
    wheel: str                    # the wheel's file name
    config: dict                  # gradescope.json


def _script(name: str, values: dict[str, str]) -> bytes:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise RuntimeError(f"{name}: unfilled template values {leftover}")
    return text.encode("utf-8")


def make_config(course: Course, *, visibility: str = "visible", late_policy: str | None = None,
                timeout: float | None = None, isolation: str = "auto") -> dict:
    """gradescope.json: checked here, so that a bad option fails the build, not every student."""
    if visibility not in VISIBILITIES:
        raise CourseError(f"--visibility {visibility!r}: expected one of {', '.join(VISIBILITIES)}")
    if isolation not in ISOLATIONS:
        raise CourseError(f"--isolation {isolation!r}: expected one of {', '.join(ISOLATIONS)}")
    if timeout is not None and not timeout > 0:
        raise CourseError(f"--timeout {timeout}: must be positive")
    try:
        policy = LatePolicy.parse(late_policy) if late_policy else None
    except LatePolicyError as exc:
        raise CourseError(str(exc)) from None
    return {"format": 1, "assignment": course.assignment, "notebook": course.notebook,
            "initkit_version": initkit.__version__, "visibility": visibility,
            "late_policy": policy.to_json() if policy else None, "timeout": timeout,
            "isolation": isolation}


def build_autograder(course: Course, out: str | os.PathLike | None = None, *,
                     visibility: str = "visible", late_policy: str | None = None,
                     timeout: float | None = None, isolation: str = "auto",
                     python: str = "3.11") -> Autograder:
    """Write the Gradescope autograder zip of `course`'s assignment.

    out                 the zip (default: autograder-<assignment>.zip in the current folder)
    visibility          of the results to students: visible, hidden, after_due_date, after_published
    late_policy         e.g. "10/day" (late.py); None: no late penalty
    timeout             wall seconds per submission (default: the kit's limits, as initkit grade)
    isolation           of student code in Gradescope's container (docs/gradescope.md): "auto"
                        bubblewrap where it starts, else "none" (the container is the boundary);
                        "bubblewrap" where it cannot start, no grade: Gradescope reports an
                        autograder failure that the instructor reruns; "none" never bubblewrap
    python              the Python version setup.sh installs (>= 3.11)
    """
    if not _supported_python(python):
        raise CourseError(f"--python {python!r}: initkit needs Python 3.11 or later (e.g. 3.11, 3.12)")
    config = make_config(course, visibility=visibility, late_policy=late_policy, timeout=timeout,
                         isolation=isolation)
    out = Path(out) if out is not None else Path.cwd() / f"autograder-{course.assignment}.zip"
    bundle = CourseBundle.of(course)
    with tempfile.TemporaryDirectory(prefix="initkit-gradescope-") as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        bundle.write(Path(tmp) / COURSE)       # opens it as a course: the bundle is complete
        values = {"ASSIGNMENT": course.assignment, "KIT_VERSION": initkit.__version__,
                  "PYTHON": python, "VENV": VENV, "WHEEL": shlex.quote(wheel.name)}
        entries: list[tuple[str, bytes, int]] = [(name, _script(name, values), 0o755)
                                                 for name in SCRIPTS]
        entries.append((wheel.name, wheel.read_bytes(), 0o644))
        entries.append((CONFIG, (json.dumps(config, indent=1) + "\n").encode("utf-8"), 0o644))
        for path in sorted((Path(tmp) / COURSE).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                entries.append((path.relative_to(tmp).as_posix(), path.read_bytes(), 0o644))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data, mode in entries:
                    write_entry(archive, name, data, mode)
            os.replace(partial, out)
        finally:
            if partial.exists():
                partial.unlink()
    return Autograder(out, tuple(name for name, _, _ in entries), wheel.name, config)


def _supported_python(version: str) -> bool:
    parts = version.split(".")
    return (len(parts) == 2 and all(p.isdigit() for p in parts)
            and (int(parts[0]), int(parts[1])) >= (3, 11))


ISOLATION_MEANS = {
    "auto": "bubblewrap where it starts in Gradescope's container, else none (the container is "
            "the boundary; the log says which)",
    "bubblewrap": "required: where it cannot start, submissions are not graded (Gradescope reports "
                  "an autograder failure; fix it, then Regrade)",
    "none": "never bubblewrap: resource limits and an unprivileged uid, the container is the "
            "boundary",
}


def describe(autograder: Autograder) -> str:
    """What `initkit gradescope` prints: the zip, what it holds, what to do next."""
    config = autograder.config
    size = autograder.path.stat().st_size
    late = LatePolicy.from_json(config["late_policy"])
    course_files = [f for f in autograder.files if f.startswith(f"{COURSE}/")]
    return "\n".join([
        f"{autograder.path} ({size / 1e6:.1f} MB): Gradescope autograder for {config['assignment']}",
        f"  setup.sh, run_autograder, {autograder.wheel}, {CONFIG}, "
        f"{COURSE}/ ({len(course_files)} files: hidden tests and source notebook)",
        f"  visibility {config['visibility']}; late policy "
        f"{late.describe() if late else 'off'}",
        f"  isolation {config['isolation']}: {ISOLATION_MEANS[config['isolation']]}",
        "Upload it on Gradescope: the assignment's Configure Autograder page, 'Zip file upload', "
        "then Update Autograder; check it with Test Autograder (docs/gradescope.md).",
    ])
