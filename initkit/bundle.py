"""A course's grading bundle: everything a grader on another machine needs to grade the course's
assignment, as bytes (the hidden tests and the source notebook), and nothing else.

A Dask worker or a Gradescope autograder gets the bundle, writes it into a folder of its own and
opens it as a Course there: it never sees the instructor's course folder (release/, submitted/,
the gradebook) nor other students' files.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .course import CONFIG_FILE, Course, CourseError

MAX_BUNDLE_BYTES = 64 * 1024 * 1024     # hidden tests are code and small data, never a dataset
_STUB_CONFIG = ("# Written by initkit: the grading bundle of a course (hidden tests and source "
                "notebook only).\nc = get_config()  # noqa: F821\n")


@dataclass(frozen=True)
class CourseBundle:
    assignment: str
    files: tuple[tuple[str, bytes], ...]     # (relative POSIX path, content), sorted by path

    @classmethod
    def of(cls, course: Course) -> "CourseBundle":
        """The bundle of `course`'s assignment: the source notebook, the assignment's hidden
        tests folder and the helpers every assignment shares (Course.hidden_files), nothing of
        another assignment."""
        files = {f"source/{course.assignment}/{course.notebook}": course.source_notebook.read_bytes()}
        hidden = course.hidden_tests
        files.update((name, path.read_bytes()) for name, path in course.hidden_files())
        total = sum(len(data) for data in files.values())
        if total > MAX_BUNDLE_BYTES:
            raise CourseError(f"{hidden}: the hidden tests and source notebook come to "
                              f"{total / 2**20:.0f} MB; at most {MAX_BUNDLE_BYTES // 2**20} MB "
                              "travel to the graders")
        return cls(course.assignment, tuple(sorted(files.items())))

    @property
    def digest(self) -> str:
        """Names the bundle's content: two bundles with the same digest grade the same way."""
        h = hashlib.sha256(self.assignment.encode() + b"\0")
        for name, data in self.files:
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()

    def write(self, folder: str | os.PathLike) -> Course:
        """Write the bundle as a course folder under `folder` (created if needed) and open it."""
        root = Path(folder)
        for name, data in self.files:
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                raise CourseError(f"grading bundle: unsafe path {name!r}")
            target = root.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (root / CONFIG_FILE).write_text(_STUB_CONFIG, encoding="utf-8")
        return Course.open(root, self.assignment)
