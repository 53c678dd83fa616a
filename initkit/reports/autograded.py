"""Autograded notebooks in nbgrader's sense: `autograded/<student>/<assignment>/<notebook>.ipynb`
as `nbgrader autograde` leaves it, with initkit's result in each autograded test cell.

One code path for both ways of grading: `initkit grade` writes these files from its results, and
`nbgrader autograde` (formgrader's Autograde button) runs initkit.nbgrader_autograde, which grades
the notebook the same way and calls `annotate` too. Each test cell (its grade_id is a criterion)
gets two outputs: the criterion's points and failing cases as text (what the student's feedback
says), and an `execute_result` holding the points, which nbgrader's SaveAutoGrades reads as the
cell's partial credit. So the gradebook, formgrader and `nbgrader generate_feedback` agree with
initkit's grade.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .. import cells
from ..files import atomic_write
from ..grading.result import distinct_failures
from .tables import num

if TYPE_CHECKING:
    from ..course import Course

AUTOGRADED = "autograded"
MAX_MESSAGE_CHARS = 2000


def criterion_text(result: dict, name: str, title: str | None = None) -> str:
    """What a criterion's test cell says: points, then each distinct failure once, with a count.

    title  the criterion's title (Course.title): the first line names it, the grade_id after it"""
    from .feedback import strip_paths      # students read this (nbgrader's feedback): no grader paths

    c = result["criteria"][name]
    what = f"{title} [{name}]" if title and title != name else name
    head = f"initkit: {num(c['score'])} / {num(c['max_score'])} points for {what}"
    if result["status"] != "graded":
        return (f"{head}: the notebook could not be graded: "
                f"{strip_paths(result.get('error') or 'unknown error')}\n")
    tests = [t for t in result.get("tests") or [] if t.get("criterion") == name]
    passed = sum(t.get("outcome") == "passed" for t in tests)
    lines = [f"{head} ({passed} of {len(tests)} checks passed)"]
    for outcome, message, count in distinct_failures(
            tests, lambda m: strip_paths(m[:MAX_MESSAGE_CHARS])):
        times = f" (x{count})" if count > 1 else ""
        lines.append(f"- {outcome}{times}: " + message.replace("\n", "\n    "))
    return "\n".join(lines) + "\n"


def annotate(nb, result: dict, course: "Course"):
    """Put the result into `nb`'s autograded test cells (an nbformat NotebookNode), in place.
    The outputs are built directly: nbformat's new_output validates each one (2 s a class)."""
    from nbformat import NotebookNode

    for cell in nb["cells"]:       # item access: a NotebookNode or the notebook's plain JSON
        if cells.classify(cell) is not cells.Kind.VISIBLE_TEST:
            continue
        name = cells.grade_id(cell)
        if name not in course.criteria or name not in result["criteria"]:
            continue
        score = float(result["criteria"][name]["score"])
        cell["execution_count"] = None
        cell["outputs"] = [
            NotebookNode(output_type="stream", name="stdout",
                         text=criterion_text(result, name, course.title(name))),
            NotebookNode(output_type="execute_result", data=NotebookNode({"text/plain": repr(score)}),
                         metadata=NotebookNode(), execution_count=None),
        ]
    _annotate_failed_cells(nb, result)
    nb.setdefault("metadata", {})["initkit"] = {"score": result["score"],
                                                "result": result_digest(result, course)}
    return nb


def _annotate_failed_cells(nb, result: dict) -> None:
    """Each cell that failed when the notebook was run gets its error as its output (stderr, as
    Jupyter shows one): first the error and the student's line that raised it (or a timeout's or
    crash's own words), then the traceback (student frames only, no grader paths). Test cells
    never: nbgrader reads their outputs as points (and grading does not run them)."""
    from nbformat import NotebookNode

    from .feedback import cell_error_parts

    nb_cells = nb["cells"]
    for ce in result.get("cell_errors") or []:
        index = ce.get("cell")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(nb_cells):
            continue
        cell = nb_cells[index]
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if cell.get("cell_type") != "code" or meta.get("grade") and not meta.get("solution"):
            continue
        summary, detail = cell_error_parts(ce.get("message"))
        text = (summary + ("\n" + detail if detail else ""))[:MAX_MESSAGE_CHARS]
        cell["outputs"] = [NotebookNode(output_type="stream", name="stderr", text=text + "\n")]


def result_digest(result: dict, course: "Course | None" = None) -> str:
    """A hash of what annotate writes from `result` (and of the notebook it was graded from, and
    the criteria's titles: a new title rewrites the cells)."""
    import hashlib

    what = [result.get("digest"), result["status"], result.get("error"), result["criteria"],
            [(t.get("name"), t.get("outcome"), t.get("message")) for t in result.get("tests") or []],
            result.get("cell_errors") or []]
    if course is not None and course.titles:
        what.append([course.title(name) for name in result["criteria"]])
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def restore_cells(nb, layout, theirs: dict) -> None:
    """As `nbgrader autograde` leaves a notebook: brought back to the release's structure by the
    rule grading applied (normalize.py: given code, tests and prompts restored, missing ones put
    back, duplicates resolved), outputs cleared, and each assignment cell with the release's
    nbgrader metadata (its checksum, which formgrader checks).

    layout  Course.layout;  theirs  release_cells(release) (a batch computes it once)"""
    from nbformat import NotebookNode

    from ..normalize import normalize

    # Item access throughout: `nb` is a NotebookNode, or (a batch) the notebook's plain JSON,
    # which then gets plain copies (nbformat's nodes cost more to build than the rest).
    copied = copy.deepcopy if isinstance(nb, NotebookNode) else _json_copy
    restored, _ = normalize(nb["cells"], layout)
    for cell in restored:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        name = cells.grade_id(cell)
        if name in theirs:
            cell["metadata"]["nbgrader"] = copied(theirs[name]["metadata"]["nbgrader"])
    if isinstance(nb, NotebookNode):
        import nbformat

        restored = [nbformat.from_dict(c) for c in restored]
    nb["cells"] = restored


def _json_copy(value):
    """A deep copy of JSON data (dicts, lists, scalars) as plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def release_cells(release) -> dict:
    """{grade_id: cell} of the release's assignment cells."""
    return {cells.grade_id(c): c for c in release.cells if cells.grade_id(c)}


def _without_outputs(raw):
    """The notebook JSON with every code cell's outputs emptied (restore_cells empties them too),
    before anything walks it. Anything unexpected is left for restore_cells."""
    for cell in raw.get("cells") or () if isinstance(raw, dict) else ():
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and "outputs" in cell:
            cell["outputs"] = []
    return raw


class AutogradedWriter:
    """Writes the autograded notebooks of a batch one student at a time (the release is read
    once). Raises FileNotFoundError if the course has no release notebook."""

    def __init__(self, course: "Course", folder: Path, submissions: Path | None):
        import nbformat

        if not course.release_notebook.is_file():
            raise FileNotFoundError(f"{course.release_notebook}: no release notebook, so no "
                                    "autograded notebooks (`initkit release` makes it)")
        self.course, self.folder, self.submissions = course, Path(folder), submissions
        self.release = nbformat.read(str(course.release_notebook), as_version=4)
        self.theirs = release_cells(self.release)

    def write(self, result: dict, timestamp: str | None = None) -> str | None:
        """Write one student's notebook (and timestamp.txt, submission_secret.txt); None, or the
        problem as text. An unchanged one is left alone.

        timestamp  the submission's timestamp.txt, if it has one"""
        course = self.course
        target = self.folder / result["student"] / course.assignment / course.notebook
        try:
            if _unchanged(target, result, course):
                return None
            nb, secret = self._notebook_for(result)
            atomic_write(target, json.dumps(annotate(nb, result, course), ensure_ascii=False) + "\n",
                         durable=False)     # synced with the batch (files.sync_folder)
            # As `nbgrader autograde`: the files beside the notebook come along (release_feedback
            # needs the secret to hand the feedback back through the exchange).
            if timestamp:
                atomic_write(target.parent / "timestamp.txt", timestamp + "\n", durable=False)
            if secret:
                atomic_write(target.parent / "submission_secret.txt", secret, durable=False)
        except Exception as exc:  # noqa: BLE001 - one student's notebook never stops the others
            return f"{type(exc).__name__}: {exc}"
        return None

    def _notebook_for(self, result: dict):
        """(the student's notebook, read again with the same checks and checked to be the one
        graded, and its submission_secret.txt); for a submission that could not be graded, the
        release with a first cell saying why (students see it: no grader paths)."""
        import nbformat

        from ..handin import read_hand_in
        from .feedback import strip_paths

        course = self.course
        if result["status"] == "graded":
            hand_in = read_hand_in(self.submissions, result["student"], course.assignment,
                                   course.notebook)
            if hand_in.digest != result.get("digest"):
                raise RuntimeError(f"{hand_in.path} changed after it was graded; grade again")
            # Already parsed with every limit (submission.parse) when it was graded: no validation
            # again (nbformat's reader and writer validate every notebook, which costs more than the rest).
            nb = _without_outputs(json.loads(hand_in.data))     # plain JSON: see restore_cells
            restore_cells(nb, course.layout, self.theirs)
            return nb, hand_in.secret
        nb = copy.deepcopy(self.release)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(
            "**initkit could not grade this submission**: "
            + strip_paths(result.get("error") or "unknown error").replace("\n", " ")))
        return nb, None


def _unchanged(target: Path, result: dict, course: "Course | None" = None) -> bool:
    """The file there was written from this very result (same notebook, same score)."""
    try:
        mine = json.loads(target.read_text(encoding="utf-8"))["metadata"]["initkit"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return mine == {"score": result["score"], "result": result_digest(result, course)}
