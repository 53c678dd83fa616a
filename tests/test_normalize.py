"""normalize.py: a hand-in brought back to the release's structure, the one rule of every route.

The cells are picked from the course by kind, never by this term's names, so an instructor's
edit of the notebook keeps these tests meaningful.
"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fakes import ASSIGNMENT, REPO
from initkit import cells
from initkit.course import Course
from initkit.grading.grade import grade_notebook
from initkit.normalize import normalize
from initkit.sandbox.inprocess import InProcessStudent
from initkit.solutions import make_submission

COURSE = Course.open(REPO, ASSIGNMENT)
K = cells.Kind


def _release() -> list[dict]:
    return json.loads(COURSE.release_notebook.read_text(encoding="utf-8"))["cells"]


def _index(nb_cells: list[dict], kind: K, which: int = 0) -> int:
    return [i for i, c in enumerate(nb_cells) if cells.classify(c) is kind][which]


def _ids(nb_cells: list[dict]) -> list:
    return [cells.grade_id(c) for c in nb_cells]


def _retype(cell: dict, cell_type: str) -> None:
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _validate_for_nbgrader(nb_cells: list[dict]) -> None:
    """What nbgrader's sanitising steps check (CheckCellMetadata) and its grade-id rule."""
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.from_dict({"cells": nb_cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    MetadataValidator().validate_nb(nb)
    named = [cells.grade_id(c) for c in nb_cells if cells.nbgrader_meta(c)]
    assert len(named) == len(set(named)), "a grade_id left twice"


def test_a_release_notebook_is_left_as_it_is():
    release = _release()
    out, notes = normalize(release, COURSE.layout)
    assert notes == []
    assert [(c["cell_type"], cells.source(c), cells.grade_id(c)) for c in out] == \
        [(c["cell_type"], cells.source(c), cells.grade_id(c)) for c in release]


def test_a_duplicated_answer_cell_keeps_its_id_on_the_last_copy_and_every_copy_runs():
    nb = _release()
    i = _index(nb, K.ANSWER)
    first = copy.deepcopy(nb[i])
    first["source"] = "def scratch():\n    return 1\n"
    nb.insert(i, first)
    out, notes = normalize(nb, COURSE.layout)
    assert "nbgrader" not in out[i]["metadata"]
    assert cells.classify(out[i]) is K.OTHER_CODE and cells.source(out[i]) == first["source"]
    assert cells.grade_id(out[i + 1]) == cells.grade_id(nb[i + 1])
    assert any("appears 2 times" in n for n in notes)
    _validate_for_nbgrader(out)


def test_a_deleted_test_cell_is_put_back_where_it_was():
    release = _release()
    i = _index(release, K.VISIBLE_TEST, 1)
    nb = release[:i] + release[i + 1:]
    out, notes = normalize(nb, COURSE.layout)
    assert _ids(out) == _ids(release)
    assert cells.source(out[i]) == cells.source(release[i])
    assert any(cells.grade_id(release[i]) in n and "missing" in n for n in notes)


def test_missing_given_code_goes_back_first_and_deleted_instructions_stay_deleted():
    release = _release()
    first_given = _index(release, K.GIVEN)
    out, notes = normalize(release[first_given + 1:], COURSE.layout)
    assert _ids(out) == [cells.grade_id(release[first_given])] + _ids(release[first_given + 1:])
    assert len(notes) == 1 and "missing" in notes[0]


def test_locked_code_turned_into_markdown_is_restored_as_code():
    nb = _release()
    i = _index(nb, K.GIVEN)
    original = cells.source(nb[i])
    _retype(nb[i], "markdown")
    nb[i]["source"] = "I did not need this"
    out, notes = normalize(nb, COURSE.layout)
    assert out[i]["cell_type"] == "code" and cells.source(out[i]) == original
    assert out[i]["outputs"] == [] and out[i]["execution_count"] is None
    assert any("changed to markdown" in n for n in notes)


def test_an_answer_turned_into_markdown_is_graded_as_code_with_the_students_text():
    nb = _release()
    i = _index(nb, K.ANSWER)
    _retype(nb[i], "markdown")
    nb[i]["source"] = "def mine():\n    return 2\n"
    out, _ = normalize(nb, COURSE.layout)
    assert out[i]["cell_type"] == "code" and cells.source(out[i]) == "def mine():\n    return 2\n"
    assert cells.classify(out[i]) is K.ANSWER


def test_a_written_answer_turned_into_code_goes_back_to_markdown():
    nb = _release()
    i = _index(nb, K.WRITTEN_ANSWER)
    _retype(nb[i], "code")
    nb[i]["source"] = "My answer."
    out, _ = normalize(nb, COURSE.layout)
    assert out[i]["cell_type"] == "markdown" and "outputs" not in out[i]
    assert cells.source(out[i]) == "My answer."


@pytest.mark.parametrize("meta", [
    {"grade": False, "grade_id": "not_in_the_assignment", "locked": True, "schema_version": 3,
     "solution": False},
    {"grade": True, "solution": True, "schema_version": 3},        # no grade_id
    {},                                                            # what DeduplicateIds leaves
    "not even a dict",
])
def test_metadata_the_assignment_does_not_know_is_dropped(meta):
    nb = _release()
    nb.insert(1, {"cell_type": "code", "metadata": {"nbgrader": meta}, "source": "x = 1",
                  "outputs": [], "execution_count": None})
    out, _ = normalize(nb, COURSE.layout)
    assert "nbgrader" not in out[1]["metadata"] and cells.classify(out[1]) is K.OTHER_CODE
    _validate_for_nbgrader(out)


def test_the_instructors_metadata_and_tags_come_back():
    nb = _release()
    i = _index(nb, K.EXPERIMENT)
    nb[i]["metadata"]["tags"] = []
    j = _index(nb, K.VISIBLE_TEST)
    nb[j]["metadata"]["nbgrader"].update(points=1000, schema_version=0, locked=False)
    out, _ = normalize(nb, COURSE.layout)
    assert cells.classify(out[i]) is K.EXPERIMENT
    assert cells.points(out[j]) == COURSE.criteria[cells.grade_id(nb[j])]
    _validate_for_nbgrader(out)


# One student's edits, as Jupyter allows them: each is (action, which cell).
EDITS = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "to_markdown", "to_code",
                                            "edit", "strip_nbgrader", "move_up"]),
                           st.integers(min_value=0, max_value=10_000)), max_size=12)


def _edit(nb: list[dict], edits) -> list[dict]:
    nb = copy.deepcopy(nb)
    for action, n in edits:
        if not nb:
            break
        i = n % len(nb)
        if action == "delete":
            del nb[i]
        elif action == "duplicate":
            nb.insert(i, copy.deepcopy(nb[i]))
        elif action in ("to_markdown", "to_code"):
            _retype(nb[i], "markdown" if action == "to_markdown" else "code")
        elif action == "edit":
            nb[i]["source"] = cells.source(nb[i]) + "\n# edited"
        elif action == "strip_nbgrader":
            nb[i]["metadata"].pop("nbgrader", None)
        elif action == "move_up" and i > 0:
            nb[i - 1], nb[i] = nb[i], nb[i - 1]
    return nb


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS)
def test_any_edits_give_a_notebook_nbgrader_accepts_and_normalizing_again_changes_nothing(edits):
    out, _ = normalize(_edit(_release(), edits), COURSE.layout)
    _validate_for_nbgrader(out)
    again, notes = normalize(out, COURSE.layout)
    assert again == out and notes == []
    present = set(_ids(out))
    for entry in COURSE.layout:
        if entry.put_back_when_missing:
            assert entry.grade_id in present, entry.grade_id
    for cell in out:
        name = cells.grade_id(cell)
        if name is not None:
            entry = next(e for e in COURSE.layout if e.grade_id == name)
            assert cell["cell_type"] == entry.cell_type
            if entry.locked:
                assert cells.source(cell) == entry.source


# --------------------------------------------------------------------------- grading, in process

def _graded(tmp_path, edit) -> dict:
    nb = make_submission(COURSE)
    edit(nb.cells)
    path = tmp_path / "edited.ipynb"
    nbformat.write(nb, str(path))
    return grade_notebook(path, COURSE, student_factory=InProcessStudent)


def _duplicate_answer(nb_cells):
    i = _index(nb_cells, K.ANSWER)
    nb_cells.insert(i, copy.deepcopy(nb_cells[i]))


def _delete_test(nb_cells):
    del nb_cells[_index(nb_cells, K.VISIBLE_TEST)]


def _given_to_markdown(nb_cells):
    for i, cell in enumerate(nb_cells):     # every locked code cell the answers rely on
        if cells.classify(cell) is K.GIVEN:
            _retype(nb_cells[i], "markdown")


def _answer_to_markdown(nb_cells):
    _retype(nb_cells[_index(nb_cells, K.ANSWER, -1)], "markdown")


@pytest.mark.parametrize("edit", [_duplicate_answer, _delete_test, _given_to_markdown,
                                  _answer_to_markdown])
def test_a_correct_notebook_edited_as_students_do_keeps_full_marks(tmp_path, edit):
    result = _graded(tmp_path, edit)
    assert result["status"] == "graded"
    assert result["score"] == COURSE.max_score, [t for t in result["tests"] if t["outcome"] != "passed"][:2]
    assert result["notes"], "the student is told what was restored"
