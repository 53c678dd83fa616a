"""The course given: an nbgrader course directory and one of its assignments.

Opened once at the edge (the command line, the pytest plugin, a worker) and passed explicitly to
everything that grades or reports; no module looks for a course by itself.

The source notebook is the one place for points (nbgrader's convention: what the Create
Assignment toolbar edits): each autograded test cell's `grade_id` is a criterion and its `points`
are the criterion's points, in notebook order. Re-weighting a criterion is an edit of the notebook;
adding one is the notebook plus a hidden test marked with its name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import cells
from .normalize import LayoutCell, layout_of

CONFIG_FILE = "nbgrader_config.py"
HIDDEN_TESTS = "autograder"
DEFAULT_OUTPUT = "grading-output"


class CourseError(Exception):
    """The course cannot be graded as given; str() is one line naming what is missing and where."""


@dataclass(frozen=True)
class Course:
    root: Path
    assignment: str
    source_notebook: Path            # solutions, visible tests, criteria and points
    criteria: dict[str, float]       # criterion (autograded test cell's grade_id) -> points, in order
    manual_points: float             # points graded by hand in formgrader (written answers)
    layout: tuple[LayoutCell, ...] = ()   # the assignment's cells (normalize.py), in order
    titles: dict[str, str] = field(default_factory=dict)   # grade_id (criterion or written
    #   answer) -> the readable title set in the notebook (cell metadata initkit.title); see title()
    heading: str = ""                # the notebook's own title (its first "# " heading), for pages
    hidden_tests: Path = field(init=False)
    release_notebook: Path = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "hidden_tests", self.root / HIDDEN_TESTS / self.assignment)
        object.__setattr__(self, "release_notebook",
                           self.root / "release" / self.assignment / self.source_notebook.name)

    @property
    def notebook(self) -> str:
        """The notebook's file name, as released to students (e.g. init_symmetry.ipynb)."""
        return self.source_notebook.name

    def title(self, grade_id: str) -> str:
        """What students and instructors read for a criterion or written answer: its title, or
        its grade_id when the notebook gives none (grades.csv, grades.json, exports and the
        gradebook keep the grade_id)."""
        return self.titles.get(grade_id) or grade_id

    @property
    def max_score(self) -> float:
        """Points of the auto-graded part (the hidden tests)."""
        return sum(self.criteria.values())

    def hidden_files(self) -> list[tuple[str, Path]]:
        """(path relative to the course, file) of everything that grades this assignment in
        `autograder/`: its own folder and the files at the top that every assignment shares
        (never another assignment's folder), sorted, without bytecode caches."""
        top = self.root / HIDDEN_TESTS
        found = [p for p in top.iterdir() if p.is_file()] if top.is_dir() else []
        if self.hidden_tests.is_dir():
            found += [p for p in self.hidden_tests.rglob("*") if p.is_file()
                      and "__pycache__" not in p.parts and not any(
                          part.startswith(".") for part in p.relative_to(top).parts)]
        found = [p for p in found if p.suffix not in (".pyc", ".pyo")]
        return sorted((p.relative_to(self.root).as_posix(), p) for p in found)

    @property
    def default_output(self) -> Path:
        """Where `initkit grade` writes (grades, feedback, cache) unless told otherwise: the
        assignment's own folder, so grading one assignment never touches another's cache, tables
        or pages; `initkit feedback` reads from it and `initkit audit` grades into its `audit/`."""
        return self.root / DEFAULT_OUTPUT / self.assignment

    @property
    def submitted(self) -> Path:
        """nbgrader's `submitted/` folder (what `nbgrader collect` fills)."""
        return self.root / "submitted"

    @property
    def examples(self) -> Path:
        """The example submissions of the assignment (`<student>/<assignment>/*.ipynb`, made by
        examples/<assignment>/make_examples.py), which `initkit demo` grades."""
        return self.root / "examples" / self.assignment / "submitted"

    @classmethod
    def open(cls, root: str | os.PathLike | None = None, assignment: str | None = None) -> "Course":
        """The course at `root` (default: the current folder) and its `assignment` (default: the
        only folder in source/). Raises CourseError for anything that makes grading impossible."""
        root = Path(root if root is not None else os.getcwd()).resolve()
        if not root.is_dir():
            raise CourseError(f"{root}: no such folder")
        if not (root / CONFIG_FILE).is_file() or not (root / "source").is_dir():
            raise CourseError(f"{root} is not an nbgrader course directory (it needs {CONFIG_FILE} "
                              "and source/); pass the course folder or run from it")
        assignment = _assignment(root, assignment)
        if not (root / HIDDEN_TESTS / assignment).is_dir():
            raise CourseError(f"{root / HIDDEN_TESTS / assignment}: no hidden tests (each "
                              f"assignment needs an {HIDDEN_TESTS}/<assignment>/ folder of pytest "
                              "tests; docs/new-assignment.md)")
        source = _source_notebook(root / "source" / assignment)
        notebook_cells = _read_cells(source)        # parsed once for points, titles and heading
        criteria, manual, layout = _points(source, notebook_cells)
        return cls(root=root, assignment=assignment, source_notebook=source, criteria=criteria,
                   manual_points=manual, layout=layout, titles=_titles(notebook_cells),
                   heading=_heading(notebook_cells) or assignment)

    def nbgrader_config(self):
        """The course's nbgrader config (traitlets), with the course root set explicitly."""
        from .nbgrader_env import course_config

        return course_config(self.root)


def assignments(root: str | os.PathLike) -> list[str]:
    """The course's assignments: the folders of its source/."""
    source = Path(root) / "source"
    return sorted(p.name for p in source.iterdir()
                  if p.is_dir() and not p.name.startswith(".")) if source.is_dir() else []


def _assignment(root: Path, assignment: str | None) -> str:
    available = assignments(root)
    if assignment is None:
        if len(available) == 1:
            return available[0]
        raise CourseError(f"{root / 'source'}: {'no assignments' if not available else 'several assignments (' + ', '.join(available) + ')'}; "
                          "name one with --assignment")
    if assignment not in available:
        raise CourseError(f"{root / 'source' / assignment}: no such assignment (source/ has: "
                          f"{', '.join(available) or 'nothing'})")
    return assignment


def _source_notebook(folder: Path) -> Path:
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))
    if len(found) != 1:
        raise CourseError(f"{folder}: expected one source notebook, found "
                          f"{len(found)}{' (' + ', '.join(p.name for p in found) + ')' if found else ''}")
    return found[0]


def _read_cells(source: Path) -> list:
    try:
        nb = json.loads(source.read_text(encoding="utf-8"))
        notebook_cells = nb["cells"]
        if not isinstance(notebook_cells, list):
            raise TypeError("'cells' is not a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CourseError(f"{source}: the source notebook cannot be read ({exc})") from None
    return notebook_cells


def _points(source: Path, notebook_cells: list) -> tuple[dict[str, float], float, tuple[LayoutCell, ...]]:
    """({criterion: points} of the autograded test cells in notebook order, points graded by
    hand, the assignment's cells as normalize.py restores them)."""
    criteria: dict[str, float] = {}
    manual = 0.0
    for index, cell in enumerate(c for c in notebook_cells if isinstance(c, dict)):
        kind = cells.classify(cell)
        if kind is cells.Kind.VISIBLE_TEST:
            name = cells.grade_id(cell)
            if not name:
                raise CourseError(f"{source}: autograded test cell {index} has no grade_id")
            if name in criteria:
                raise CourseError(f"{source}: grade_id {name!r} is used by two test cells")
            criteria[name] = cells.points(cell)
        elif kind is cells.Kind.WRITTEN_ANSWER:
            manual += cells.points(cell)
    if not criteria:
        raise CourseError(f"{source}: no autograded test cells (nbgrader 'Autograder tests' with a "
                          "grade_id and points): nothing says what the hidden tests are worth")
    named = [c for c in notebook_cells if isinstance(c, dict) and cells.grade_id(c)]
    seen: set[str] = set()
    for cell in named:
        if cells.grade_id(cell) in seen:
            raise CourseError(f"{source}: grade_id {cells.grade_id(cell)!r} is used by two cells")
        seen.add(cells.grade_id(cell))
    return criteria, manual, layout_of(named)


def graded_cells(source: Path) -> list[tuple[str, str | None]]:
    """(grade_id, title or None) of every autograded test cell and written answer, in notebook
    order (Course.open has already checked the notebook)."""
    return _graded(_read_cells(source))


def _graded(notebook_cells: list) -> list[tuple[str, str | None]]:
    return [(cells.grade_id(c), cells.title(c)) for c in notebook_cells if isinstance(c, dict)
            and cells.classify(c) in (cells.Kind.VISIBLE_TEST, cells.Kind.WRITTEN_ANSWER)
            and cells.grade_id(c)]


def read_titles(source: Path) -> dict[str, str]:
    """{grade_id: title} of every criterion and written answer, the grade_id where a cell has no
    title (`initkit check` reports those)."""
    return _titles(_read_cells(source))


def _titles(notebook_cells: list) -> dict[str, str]:
    return {name: title or name for name, title in _graded(notebook_cells)}


def _heading(notebook_cells: list) -> str | None:
    """The text of the notebook's first level-1 Markdown heading ("# Signals through depth")."""
    for cell in notebook_cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            for line in cells.source(cell).splitlines():
                if line.startswith("# ") and line[2:].strip():
                    return " ".join(line[2:].split())
    return None
