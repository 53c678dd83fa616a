"""The release's closing "Before you submit" cell, run as a student runs it: in a kernel, after
the notebook, with one exercise left unfinished and another redefined in a scratch cell."""

from __future__ import annotations

import nbformat
import pytest

from fakes import REPO
from initkit import cells
from initkit.course import Course, assignments
from initkit.solutions import make_submission

pytestmark = pytest.mark.slow       # it executes a whole notebook


def _check_output(nb, folder, save: bool = True) -> str:
    """Save `nb` in `folder` under the assignment's name, run it there as Jupyter would (the
    kernel's folder is the notebook's), and return what the closing cell printed."""
    from nbclient import NotebookClient

    nb.cells = [c for c in nb.cells if cells.classify(c) is not cells.Kind.EXPERIMENT]
    if save:
        nbformat.write(nb, str(folder / f"{folder.name}.ipynb"))
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}},
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    (last,) = [c for c in nb.cells if cells.classify(c) is cells.Kind.STUDENT_CHECK]
    return "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")


def _exercises(course: Course) -> list[str]:
    """The functions the students write, in notebook order (the answer cells' definitions)."""
    nb = nbformat.read(str(course.source_notebook), as_version=4)
    return [name for c in nb.cells if cells.classify(c) is cells.Kind.ANSWER
            for name in cells.defined_functions(cells.source(c))]


@pytest.mark.parametrize("assignment", assignments(REPO))
def test_it_names_the_unfinished_and_the_redefined_and_grading_skips_it(assignment, tmp_path):
    course = Course.open(REPO, assignment)
    unfinished, redefined, alone, *done = _exercises(course)
    stub = f"def {unfinished}(*args, **kwargs):\n    raise NotImplementedError()\n"
    nb = make_submission(course, {unfinished: stub})
    check = next(i for i, c in enumerate(nb.cells) if cells.classify(c) is cells.Kind.STUDENT_CHECK)
    assert check == len(nb.cells) - 1, "the check is the release's last cell"
    # Scratch cells, as students add them: one with other code, one with only the definition.
    nb.cells.insert(check, nbformat.v4.new_code_cell(
        f"def {redefined}(*args, **kwargs):\n    return {{}}\n\nprint({redefined}())"))
    nb.cells.insert(check, nbformat.v4.new_code_cell(f"def {alone}(*args, **kwargs):\n    return 0\n"))
    folder = tmp_path / assignment
    folder.mkdir()
    text = _check_output(nb, folder)
    assert f"{unfinished}: unfinished: it still raises NotImplementedError" in text, text
    for name in (redefined, alone):
        assert f"{name}: the live definition (In[" in text and "is not the one in your saved answer cell" in text, text
    for name in done:
        assert f"{name}: done" in text, text
    # Without the saved notebook (renamed), a scratch cell with other code is still found.
    (folder / f"{assignment}.ipynb").rename(folder / "renamed.ipynb")
    text = _check_output(nb, folder, save=False)
    assert f"{redefined}: defined 2 different ways, one of them in a scratch cell" in text, text
    assert f"could not read {assignment}.ipynb here" in text, text
    # Grading never runs it, and nothing of it is the student's code.
    from initkit.submission import parse

    parsed = parse(nbformat.writes(nb).encode(), "nb", course.layout)
    assert all("_before_you_submit" not in c.source for c in parsed.cells)
    assert all("_before_you_submit" not in code for _, code in parsed.student_code)
