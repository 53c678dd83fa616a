"""A hand-in brought back to the release's structure, one rule for every route.

Students edit notebooks in ways Jupyter allows: they duplicate cells, delete them, turn a code
cell into Markdown, edit a locked cell's JSON. Before anything grades a notebook (`initkit grade`,
`grade-one`, Gradescope, and `nbgrader autograde`, where initkit's step runs before nbgrader's
own sanitising steps), `normalize` applies the rule nbgrader's OverwriteCells and DeduplicateIds
apply, extended so that nbgrader never stops on a notebook:

1. duplicated ids: the last cell carrying an assignment cell's id keeps it (as DeduplicateIds);
   earlier copies lose their nbgrader metadata and run as the student's own code;
2. ids the assignment does not have, or nbgrader metadata without an id: the metadata is dropped
   (the cell is the student's own);
3. every assignment cell gets the instructor's nbgrader metadata and tags back, and its cell type
   (an answer cell turned into Markdown is still graded as code, with the student's text);
   a locked cell (given code, visible tests, experiments, instructions) gets its source back;
4. a missing graded cell (visible test, written answer; as nbgrader's add_missing_cells) or given
   code cell is put back after the assignment cell that precedes it; deleted instructions and
   experiments are not (nothing grading runs), nor are answer cells (there is nothing of the
   student's).

The result is idempotent, and what changed is said in notes the student's feedback shows.
docs/submissions.md lists every case. Works on plain JSON dicts (a submission already parsed
with every limit, see submission.py) and returns new dicts; the input is not changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from . import cells

# Metadata the instructor owns on an assignment cell; the rest of a cell's metadata is kept.
_OWNED = ("nbgrader", "tags")


@dataclass(frozen=True)
class LayoutCell:
    """One cell of the assignment, as the instructor made it (plain data: it travels to workers)."""

    grade_id: str
    cell_type: str
    source: str
    metadata: dict              # the instructor's "nbgrader" and "tags" entries only
    cell_id: str | None         # nbformat 4.5's cell id, if the notebook has one

    @property
    def locked(self) -> bool:
        nbg = self.metadata.get("nbgrader", {})
        return bool(nbg.get("locked")) and not nbg.get("solution")

    @property
    def kind(self) -> cells.Kind:
        return cells.classify({"cell_type": self.cell_type, "metadata": self.metadata})

    @property
    def put_back_when_missing(self) -> bool:
        """Graded cells (as nbgrader's add_missing_cells) and the given code grading runs are put
        back; instructions, experiments (never run) and answer cells (the student's) are not."""
        return (bool(self.metadata.get("nbgrader", {}).get("grade"))
                or self.kind in (cells.Kind.GIVEN, cells.Kind.DIAGNOSIS))


def layout_of(notebook_cells: list) -> tuple[LayoutCell, ...]:
    """The assignment's cells (those with an nbgrader grade_id) of an instructor's notebook."""
    found = []
    for cell in notebook_cells:
        name = cells.grade_id(cell)
        if not name:
            continue
        meta = cell.get("metadata") or {}
        owned = {k: copy.deepcopy(dict(meta[k]) if k == "nbgrader" else list(meta[k]))
                 for k in _OWNED if k in meta}
        cell_id = cell.get("id")
        found.append(LayoutCell(name, cell.get("cell_type"), cells.source(cell), owned,
                                cell_id if isinstance(cell_id, str) else None))
    return tuple(found)


def _title(entry: LayoutCell) -> str:
    kind = entry.kind
    what = {cells.Kind.ANSWER: "answer cell", cells.Kind.VISIBLE_TEST: "test cell",
            cells.Kind.WRITTEN_ANSWER: "written answer", cells.Kind.GIVEN: "locked code cell",
            cells.Kind.EXPERIMENT: "experiment cell"}.get(kind, "cell")
    return f"the {what} '{entry.grade_id}'"


def normalize(notebook_cells: list, layout: tuple[LayoutCell, ...]) -> tuple[list[dict], list[str]]:
    """(the notebook's cells brought back to the release's structure, notes for the student)."""
    by_id = {entry.grade_id: entry for entry in layout}
    notes: list[str] = []
    last = {}
    for index, cell in enumerate(notebook_cells):
        name = cells.grade_id(cell)
        if name in by_id:
            last[name] = index
    copies: dict[str, int] = {}
    out: list[dict] = []
    for index, cell in enumerate(notebook_cells):
        name = cells.grade_id(cell)
        has_nbgrader = isinstance(cell.get("metadata"), dict) and "nbgrader" in cell["metadata"]
        if name in by_id and last[name] == index:
            out.append(_restore(cell, by_id[name], notes))
        elif has_nbgrader:
            if name in by_id:
                copies[name] = copies.get(name, 0) + 1
            out.append(_without_nbgrader(cell))
        else:
            out.append(cell)
    for name, extra in copies.items():
        notes.append(f"{_title(by_id[name]).capitalize()} appears {extra + 1} times in your "
                     "notebook: the last copy is the assignment's; the earlier ones ran as your "
                     "own code, in order.")
    out = _put_back_missing(out, layout, notes)
    return out, notes


def _without_nbgrader(cell: dict) -> dict:
    meta = dict(cell.get("metadata") or {})
    meta.pop("nbgrader", None)
    return {**cell, "metadata": meta}


def _restore(cell: dict, entry: LayoutCell, notes: list[str]) -> dict:
    meta = dict(cell.get("metadata") or {}) if isinstance(cell.get("metadata"), dict) else {}
    for key in _OWNED:
        meta.pop(key, None)
    meta.update(copy.deepcopy(entry.metadata))
    restored = {**cell, "metadata": meta}
    code_like = entry.kind is not cells.Kind.TEXT
    if cell.get("cell_type") != entry.cell_type:
        if code_like:
            as_what = "code" if entry.cell_type == "code" else "Markdown"
            notes.append(f"{_title(entry).capitalize()} had been changed to "
                         f"{cell.get('cell_type')}; it was graded as {as_what}, as released.")
        restored = _as_type(restored, entry.cell_type)
    if entry.locked and cells.source(cell) != entry.source:
        if entry.kind in (cells.Kind.GIVEN, cells.Kind.VISIBLE_TEST, cells.Kind.DIAGNOSIS):
            notes.append(f"{_title(entry).capitalize()} had been edited; the released version "
                         "was used.")
        restored["source"] = entry.source
    return restored


def _as_type(cell: dict, cell_type: str) -> dict:
    cell = {**cell, "cell_type": cell_type}
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


def _new_cell(entry: LayoutCell, taken_ids: set[str]) -> dict:
    cell = {"cell_type": entry.cell_type, "metadata": copy.deepcopy(entry.metadata),
            "source": entry.source}
    if entry.cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    if entry.cell_id is not None:
        cell_id, n = entry.cell_id, 1
        while cell_id in taken_ids:
            n += 1
            cell_id = f"{entry.cell_id}-{n}"
        taken_ids.add(cell_id)
        cell["id"] = cell_id
    return cell


def _put_back_missing(out: list[dict], layout: tuple[LayoutCell, ...], notes: list[str]) -> list[dict]:
    present = {cells.grade_id(c) for c in out}
    missing = [e for e in layout if e.grade_id not in present and e.put_back_when_missing]
    if not missing:
        return out
    taken_ids = {c.get("id") for c in out if isinstance(c.get("id"), str)}
    uses_ids = any("id" in c for c in out) or not out
    result = list(out)
    for entry in missing:
        # After the nearest earlier assignment cell that is there (or first of all).
        position = 0
        earlier = [e.grade_id for e in layout[:layout.index(entry)]]
        where = {cells.grade_id(c): i for i, c in enumerate(result) if cells.grade_id(c)}
        for name in reversed(earlier):
            if name in where:
                position = where[name] + 1
                break
        cell = _new_cell(entry, taken_ids)
        if not uses_ids:
            cell.pop("id", None)
        result.insert(position, cell)
        notes.append(f"{_title(entry).capitalize()} was missing from your notebook; the "
                         "released version was put back.")
    return result
