"""Reading submissions: bad files give a SubmissionError naming the file and the problem; the
cells that grading runs skip experiments, visible tests and IPython magics."""

from __future__ import annotations

import json

import nbformat
import pytest

from pathlib import Path

from initkit.cells import EXPERIMENT_TAG, strip_magics
from initkit.course import Course
from initkit.handin import read_submission
from initkit.submission import MAX_NOTEBOOK_BYTES, CodeCell, SubmissionError

REPO = Path(__file__).resolve().parents[1]


def write_nb(path, cells, **kw):
    nb = nbformat.v4.new_notebook(cells=cells, **kw)
    nbformat.write(nb, str(path))
    return path


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (b"   \n\t ", "empty"),
    (b"\xff\xfe{\"cells\": []}", "not UTF-8"),
    (b"{\"cells\": [", "not valid JSON"),
    (b"print('hello')", "not valid JSON"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b"{\"hello\": 1}", "not a Jupyter notebook"),
    (b"{\"cells\": [], \"nbformat\": \"4\"}", "invalid 'nbformat'"),
    (b"{\"worksheets\": [], \"nbformat\": 3, \"nbformat_minor\": 0}", "version 3"),
    (b"{\"nbformat\": 4, \"nbformat_minor\": 5}", "'cells' is missing"),
    (b"{\"nbformat\": 4, \"cells\": [{\"source\": \"x\"}]}", "cell 0 is malformed"),
    (b"{\"nbformat\": 4, \"cells\": [{\"cell_type\": \"code\", \"source\": 3}]}", "cell 0 is malformed"),
    (b"[" * 100000 + b"]" * 100000, "not"),
])
def test_bad_files_are_rejected_with_a_reason(tmp_path, content, problem):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError) as info:
        read_submission(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SubmissionError, match="file not found"):
        read_submission(tmp_path / "nope.ipynb")
    with pytest.raises(SubmissionError, match="is a directory, not a regular file"):
        read_submission(tmp_path)


def test_too_large(tmp_path):
    path = tmp_path / "big.ipynb"
    with open(path, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)
    with pytest.raises(SubmissionError, match="too large"):
        read_submission(path)


def test_truncated_real_notebook(tmp_path):
    path = write_nb(tmp_path / "nb.ipynb", [nbformat.v4.new_code_cell("x = 1")])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SubmissionError, match="truncated"):
        read_submission(path)


def test_cells_kept_and_skipped(tmp_path):
    code = nbformat.v4.new_code_cell
    cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        code("import numpy as np"),
        nbformat.v4.new_raw_cell("raw"),
        code("train_everything()", metadata={"tags": [EXPERIMENT_TAG, "other"]}),
        code("def f():\n    return 1", metadata={"nbgrader": {"grade": True, "solution": True,
                                                             "grade_id": "a", "points": 1}}),
        code("assert f() == 1", metadata={"nbgrader": {"grade": True, "solution": False,
                                                       "grade_id": "zeros", "points": 5}}),
        code("x = 2", metadata={"nbgrader": {"grade": False, "solution": False, "locked": True}}),
        code("", metadata={"tags": []}),
    ]
    path = write_nb(tmp_path / "nb.ipynb", cells)
    got = read_submission(path)
    assert got == [CodeCell(1, "import numpy as np"), CodeCell(4, "def f():\n    return 1"),
                   CodeCell(6, "x = 2"), CodeCell(7, "")]


def test_source_as_list_of_lines(tmp_path):
    data = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                       "source": ["a = 1\n", "b = a + 1"]}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(data))
    assert read_submission(path) == [CodeCell(0, "a = 1\nb = a + 1")]


def test_magics(tmp_path):
    code = nbformat.v4.new_code_cell
    cells = [
        code("%%timeit\nslow()"),
        code("%matplotlib inline\nimport numpy as np\n!pip install torch\nx = 1"),
        code("if True:\n    %time y = 2\n    z = 3"),
        code("  %%capture\nhidden()"),
        code("!ls \\\n  -la\nw = 4"),
        code("a = 5 % 3\nb = a != 1"),
    ]
    got = read_submission(write_nb(tmp_path / "nb.ipynb", cells))
    assert [c.index for c in got] == [1, 2, 4, 5]
    assert got[0].source == "pass\nimport numpy as np\npass\nx = 1"
    assert got[1].source == "if True:\n    pass\n    z = 3"
    assert got[2].source == "pass\n\nw = 4"
    assert got[3].source == "a = 5 % 3\nb = a != 1"
    for cell in got:
        compile(cell.source, "<test>", "exec")     # valid Python after rewriting


def test_strip_magics_cell_magic_only_at_start():
    assert strip_magics("%%bash\necho hi") is None
    assert strip_magics("x = 1\n%who") == "x = 1\npass"


def test_release_notebook_reads():
    release = Course.open(REPO, "init_symmetry").release_notebook
    cells = read_submission(release)
    assert cells and all(isinstance(c, CodeCell) for c in cells)
    assert len({c.index for c in cells}) == len(cells)
