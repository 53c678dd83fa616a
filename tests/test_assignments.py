"""Every assignment of the course is ready to hand out and grade: `initkit check` passes on it
(totals, titles, criteria, fresh release and examples, audit alternatives passing the visible
checks), and its whole source notebook runs with every visible check passing. (init_symmetry's
own run, with its experiments' numbers, is tests/test_course.py's.)"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from fakes import ASSIGNMENT, REPO
from initkit import api, cells
from initkit.course import Course, assignments

pytestmark = pytest.mark.slow            # the checks and the notebooks execute notebooks


@pytest.mark.parametrize("assignment", assignments(REPO))
def test_initkit_check_passes(assignment):
    report = api.check(Course.open(REPO, assignment))
    assert report.ok, "\n".join(report.problems)


@pytest.mark.parametrize("assignment", [a for a in assignments(REPO) if a != ASSIGNMENT])
def test_the_source_notebook_runs_and_its_visible_checks_pass(assignment):
    course = Course.open(REPO, assignment)
    nb = nbformat.read(str(course.source_notebook), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(course.source_notebook.parent)}}).execute()
    for cell in nb.cells:
        if cells.classify(cell) is cells.Kind.VISIBLE_TEST:
            printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            assert "visible checks passed" in printed, cells.grade_id(cell)
