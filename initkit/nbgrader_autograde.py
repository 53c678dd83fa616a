"""`nbgrader autograde` and formgrader's Autograde button, grading with initkit.

nbgrader 0.9's Autograde first sanitises each notebook (`Autograde.sanitize_preprocessors`:
ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata). The course
puts NormalizeHandIn first: it brings the notebook back to the release's structure with the rule
`initkit grade` applies (initkit/normalize.py), so nbgrader's own steps find nothing to stop on
(a duplicated cell no longer ends the whole run with SchemaTooOldError) and both routes grade the
same cells.

Then it runs `Autograde.autograde_preprocessors`, whose first step (Execute) runs
the notebook in a kernel; SaveAutoGrades then scores each test cell from its outputs. The course's
nbgrader_config.py puts GradeWithInitkit in Execute's place: it grades the (already sanitized)
notebook exactly as `initkit grade` does (grading.grade.grade_hand_in: the sandbox and the hidden
tests) and writes the result into the test cells with reports.autograded.annotate, the same code
`initkit grade` writes its autograded notebooks with. So a TA's click gives the same scores and
the same messages as `initkit grade`, and never silently replaces a grade.

    c.Autograde.autograde_preprocessors = [
        "initkit.nbgrader_autograde.GradeWithInitkit",
        "nbgrader.preprocessors.IgnorePattern", ...]     # the rest of nbgrader's list, unchanged
"""

from __future__ import annotations

import atexit
import functools
import glob
import os

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Enum

from .sandbox.limits import ISOLATIONS

_HOSTS: dict = {}


def _sandbox(isolation: str):
    """One sandbox for the whole `nbgrader autograde` process (it grades students one by one)."""
    if isolation not in _HOSTS:
        from .grading.batch import make_limits
        from .sandbox import SandboxHost

        _HOSTS[isolation] = host = SandboxHost(make_limits(None, isolation))
        atexit.register(host.close)
    return _HOSTS[isolation]


def _course(config, resources):
    """The course, opened once per process and source notebook version: both steps ask for it
    for every student `nbgrader autograde` grades."""
    from nbgrader.coursedir import CourseDirectory

    root = os.path.abspath(CourseDirectory(config=config).root)
    assignment = resources["nbgrader"]["assignment"]
    sources = glob.glob(os.path.join(root, "source", glob.escape(assignment), "*.ipynb"))
    return _open_course(root, assignment, tuple((s, os.stat(s).st_mtime_ns) for s in sources))


@functools.lru_cache(maxsize=8)
def _open_course(root: str, assignment: str, _version: tuple):
    from .course import Course

    return Course.open(root, assignment)


class NormalizeHandIn(NbGraderPreprocessor):
    """The first sanitising step: the notebook brought back to the release's structure."""

    def preprocess(self, nb, resources):
        from .normalize import normalize

        normalized, notes = normalize(nb.cells, _course(self.config, resources).layout)
        nb.cells = [nbformat.from_dict(c) for c in normalized]
        for note in notes:
            self.log.warning("initkit: %s: %s", resources["nbgrader"]["student"], note)
        return nb, resources


class GradeWithInitkit(NbGraderPreprocessor):
    """Grades the notebook with initkit and puts each criterion's result into its test cell."""

    isolation = Enum(list(ISOLATIONS), default_value="bubblewrap",
                     help="How student code is isolated (as `initkit grade --isolation`): "
                     "bubblewrap refuses to grade where it cannot start; none runs student code "
                     "with resource limits and an unprivileged uid only.").tag(config=True)

    def preprocess(self, nb, resources):
        from .grading.grade import grade_hand_in
        from .handin import HandIn
        from .reports.autograded import annotate

        info = resources["nbgrader"]
        course = _course(self.config, resources)
        name = f"{info['notebook']}.ipynb"
        hand_in = HandIn(info["student"], name, nbformat.writes(nb).encode("utf-8"),
                         path=f"{info['student']}/{info['assignment']}/{name}")
        result = grade_hand_in(hand_in, course, host=_sandbox(self.isolation))
        self.log.info("initkit: %s scores %s / %s (%s)", info["student"], result["score"],
                      result["max_score"], result["status"])
        return annotate(nb, result, course), resources
