"""`initkit export canvas`: Canvas's gradebook export, with the assignment's column filled in from
nbgrader's gradebook, ready for Canvas's Grades > Import.

The file is Canvas's own (Grades > Export > Export Entire Gradebook), so every column Canvas needs
to match students (ID, SIS User ID, SIS Login ID, Section) is already there; this fills one
column and passes everything else through:

    Student,ID,SIS User ID,SIS Login ID,Section,init_symmetry (12345),Current Score
    ,,,,,Manual Posting,                  <- only when the assignment posts grades manually
        Points Possible,,,,,105,(read only)
    "Doe, Jane",4711,S1,jdoe,Sec 1,92.5,88.0
    "Student, Test",9999,,,Sec 1,,        <- Canvas's test student: no login, left as it is

The header names the students (`Student`, or `LastName`,`FirstName` in newer exports) and their
`ID`; assignment columns are titled `<name> (<Canvas id>)`; read-only columns (totals, grades)
say "(read only)" in the Points Possible row, which can stand anywhere among the rows; rows whose
every cell is blank or a posting marker ("Muted", "Manual Posting") describe the columns, not a
student. A file may start with a byte order mark and may use `;` between fields (Canvas's
setting for locales with a decimal comma); both are kept. Scores are written with a decimal
point, which Canvas's import reads in either case.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..course import CourseError
from ..reports.tables import num

if TYPE_CHECKING:
    from ..course import Course

BOM = "\ufeff"
MATCH_COLUMN = "SIS Login ID"       # Canvas's login: what nbgrader calls the student id
USER_ID_COLUMN = "ID"               # Canvas's user ID: the student id `initkit collect canvas` gives
# Columns that say who a row is (Canvas's importer reads these before the assignment columns).
IDENTITY_COLUMNS = ("Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID",
                    "Integration ID", "Root Account", "Section")
READ_ONLY = "(read only)"
_POINTS_POSSIBLE = re.compile(r"Points Possible", re.IGNORECASE)
_POSTING_MARKER = re.compile(r"(muted|manual posting.*)?", re.IGNORECASE)
_EXCUSED = "EX"


class RosterError(CourseError):
    """The Canvas file cannot be used as given; str() is one line naming the file."""


@dataclass
class Roster:
    """A Canvas gradebook export as read: the header, then every other row as it was."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    delimiter: str = ","
    newline: str = "\n"
    bom: bool = False

    def line(self, index: int) -> int:
        """The file's line number of rows[index] (for messages; a quoted newline in a cell
        makes it approximate)."""
        return index + 2


@dataclass
class CanvasExport:
    """What `export_canvas` wrote."""

    out: Path
    column: str                                   # the assignment's column title
    match_column: str
    match_chosen: str | None = None     # why match_column, when it was chosen automatically
    filled: dict[str, float] = field(default_factory=dict)      # match key -> score written
    unmatched: dict[str, float] = field(default_factory=dict)   # submissions without a roster row
    no_submission: list[str] = field(default_factory=list)      # roster rows left as they were
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def read_roster(path: str | os.PathLike) -> Roster:
    """Canvas's gradebook export at `path`. Raises RosterError if it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the Canvas export ({exc.strerror or exc})") from None
    bom = data.startswith(BOM.encode("utf-8"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError(f"{path}: not UTF-8 text (export it from Canvas again, or save it as "
                          "\"CSV UTF-8\")") from None
    first_end = text.find("\n")
    newline = "\r\n" if first_end > 0 and text[first_end - 1] == "\r" else "\n"
    problem = None
    for delimiter in (",", ";"):
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
        except csv.Error as exc:
            problem = problem or str(exc)
            continue
        if rows and _is_header(rows[0]):
            return Roster(path, rows[0], rows[1:], delimiter, newline, bom)
    raise RosterError(f"{path}: not a Canvas gradebook export (its first row needs the columns "
                      "Student and ID: export it from Canvas's Grades > Export)"
                      + (f"; as CSV: {problem}" if problem else ""))


def _is_header(row: list[str]) -> bool:
    cells = {c.strip() for c in row}
    return "ID" in cells and ("Student" in cells or {"LastName", "FirstName"} <= cells)


def is_student_row(row: list[str]) -> bool:
    """False for the rows that describe the columns: Points Possible, the muted or manual posting
    markers, blank lines (Canvas's importer skips the same rows)."""
    if row and _POINTS_POSSIBLE.search(row[0]):
        return False
    return not all(_POSTING_MARKER.fullmatch(c.strip()) for c in row)


def _points_possible_rows(roster: Roster) -> list[int]:
    return [i for i, row in enumerate(roster.rows) if row and _POINTS_POSSIBLE.search(row[0])]


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _column_index(roster: Roster, title: str) -> list[int]:
    return [i for i, c in enumerate(roster.header) if c.strip() == title.strip()]


def assignment_column(roster: Roster, assignment: str, column: str | None = None) -> int:
    """The index of the assignment's column: the one titled `column`, else the one titled
    `<assignment>` or `<assignment> (<Canvas id>)`. Raises RosterError unless exactly one
    writable assignment column matches."""
    if column is not None:
        found = _column_index(roster, column)
        what = f"titled {column!r}"
    else:
        pattern = re.compile(re.escape(assignment) + r"(\s*\(\d+\))?")
        found = [i for i, c in enumerate(roster.header) if pattern.fullmatch(c.strip())]
        what = f"for the assignment {assignment!r} (titled {assignment!r} or " \
               f"'{assignment} (<Canvas id>)')"
    found = [i for i in found if roster.header[i].strip() not in IDENTITY_COLUMNS]
    if not found:
        listed = ", ".join(repr(c) for c in assignment_columns(roster)) or "none"
        raise RosterError(f"{roster.path}: no column {what} (its assignment columns: {listed}); "
                          "name the assignment's Canvas column with --column")
    if len(found) > 1:
        raise RosterError(f"{roster.path}: {len(found)} columns {what}: "
                          f"{', '.join(repr(roster.header[i]) for i in found)}; "
                          "name one with --column")
    index = found[0]
    for i in _points_possible_rows(roster):
        if _cell(roster.rows[i], index).strip().lower() == READ_ONLY:
            raise RosterError(f"{roster.path}: the column {roster.header[index]!r} is read only in "
                              "Canvas (a computed total); name the assignment's column with --column")
    return index


def assignment_columns(roster: Roster) -> list[str]:
    """The titles of the columns Canvas would import as assignments (not identity columns, not
    read-only ones)."""
    read_only = {i for r in _points_possible_rows(roster)
                 for i, c in enumerate(roster.rows[r]) if c.strip().lower() == READ_ONLY}
    return [c for i, c in enumerate(roster.header)
            if c.strip() not in IDENTITY_COLUMNS and i not in read_only]


def choose_match_column(roster: Roster, students) -> tuple[str, str]:
    """(the column to match `students` by, why): `ID` when it holds more of them than `SIS Login
    ID` does (students named by their Canvas user ID, as `initkit collect canvas` names them),
    else `SIS Login ID`."""
    students = set(students)
    held = {}
    for title in (MATCH_COLUMN, USER_ID_COLUMN):
        found = _column_index(roster, title)
        held[title] = len(students & {_cell(r, found[0]).strip() for r in roster.rows
                                      if is_student_row(r)}) if len(found) == 1 else 0
    title, other = ((USER_ID_COLUMN, MATCH_COLUMN) if held[USER_ID_COLUMN] > held[MATCH_COLUMN]
                    else (MATCH_COLUMN, USER_ID_COLUMN))
    return title, (f"chosen automatically: it holds {held[title]} of the gradebook's "
                   f"{len(students)} student id(s), {other} holds {held[other]}; "
                   "--match-column chooses another")


def match_index(roster: Roster, match_column: str) -> int:
    found = _column_index(roster, match_column)
    if len(found) != 1:
        present = [c for c in roster.header if c.strip() in IDENTITY_COLUMNS]
        problem = f"no {match_column!r} column" if not found else \
            f"{len(found)} {match_column!r} columns"
        raise RosterError(f"{roster.path}: {problem} to match students "
                          f"by (its columns that name students: {', '.join(present) or 'none'}); "
                          "choose one with --match-column")
    return found[0]


# --------------------------------------------------------------------------- filling


def fill(roster: Roster, column: int, match: int, scores: Mapping[str, float],
         max_points: float | None = None) -> tuple[list[list[str]], CanvasExport]:
    """The roster's rows with `column` set from `scores` (by the value of the `match` column),
    and what was done. Only that column changes, and only in rows of students with a score and in
    a blank Points Possible cell (set to `max_points`); every other cell is kept as read.

    A roster row without a score keeps its cell (blank, unless Canvas already had a grade); a
    student Canvas excused ("EX") stays excused, with a warning; a score whose student has no
    roster row is in `unmatched`. Raises RosterError if two students share a match key."""
    title = roster.header[column].strip()
    result = CanvasExport(out=roster.path, column=title, match_column=roster.header[match].strip())
    keys: dict[str, int] = {}
    for i, row in enumerate(roster.rows):
        key = _cell(row, match).strip()
        if not key or not is_student_row(row):
            continue
        if key in keys:
            raise RosterError(f"{roster.path}: lines {roster.line(keys[key])} and {roster.line(i)} "
                              f"both have {result.match_column} {key!r}; students must be told "
                              "apart (choose another column with --match-column)")
        keys[key] = i
    rows = [list(row) for row in roster.rows]
    for i in _points_possible_rows(roster):
        current = _cell(rows[i], column).strip()
        if not current and max_points is not None:
            _set(rows[i], column, num(max_points))
        elif max_points is not None and _number(current) != round(float(max_points), 3):
            result.warnings.append(f"Canvas says {title!r} is worth {current} points; nbgrader's "
                                   f"gradebook says {num(max_points)} (kept Canvas's)")
    excused = []
    for key, i in keys.items():
        if key not in scores:
            result.no_submission.append(key)
            continue
        if _cell(rows[i], column).strip().upper() == _EXCUSED:
            excused.append(key)
            continue
        _set(rows[i], column, num(scores[key]))
        result.filled[key] = float(scores[key])
    if excused:
        result.warnings.append(f"{len(excused)} student(s) excused in Canvas (EX) kept excused, "
                               f"their scores not written: {', '.join(sorted(excused))}")
    result.unmatched = {s: float(v) for s, v in sorted(scores.items()) if s not in keys}
    return rows, result


def _set(row: list[str], index: int, value: str) -> None:
    if index >= len(row):
        row.extend([""] * (index + 1 - len(row)))
    row[index] = value


def _number(text: str) -> float | None:
    try:
        return round(float(text.replace(",", ".")), 3)
    except ValueError:
        return None


def roster_text(roster: Roster, rows: list[list[str]]) -> str:
    """The file's text: the header and `rows`, with the roster's delimiter, line ending and
    byte order mark."""
    buf = io.StringIO(newline="")
    plain = csv.writer(buf, delimiter=roster.delimiter, lineterminator=roster.newline)
    # csv quotes a field holding a line break only if the break is in lineterminator: a cell with
    # a bare "\r" (or "\n" in a "\r\n" file) gets its row written fully quoted instead.
    quoted = csv.writer(buf, delimiter=roster.delimiter, lineterminator=roster.newline,
                        quoting=csv.QUOTE_ALL)
    for row in [roster.header, *rows]:
        (quoted if any("\r" in c or "\n" in c for c in row) else plain).writerow(row)
    return (BOM if roster.bom else "") + buf.getvalue()


# --------------------------------------------------------------------------- the whole export


def export_canvas(course: "Course", roster_path: str | os.PathLike, out: str | os.PathLike, *,
                  match_column: str | None = None, column: str | None = None,
                  db_url: str | None = None) -> CanvasExport:
    """Write `out`: the Canvas export at `roster_path` with the course assignment's column set
    to each student's total in nbgrader's gradebook (autograded and manual scores, less nbgrader's
    late penalty). Students are matched by `match_column` (default: `choose_match_column`'s, `ID`
    for students named by Canvas user ID, else SIS Login ID, the nbgrader student id being the
    Canvas login). Raises RosterError (a CourseError) for a file that cannot be used."""
    from ..files import atomic_write
    from ..reports.gradebook import default_db_url
    from .totals import open_gradebook

    roster = read_roster(roster_path)
    out = Path(out)
    if out.exists() and out.resolve() == roster.path.resolve():
        raise RosterError(f"{out}: the output would overwrite the Canvas export it is made from; "
                          "write it to another file")
    index = assignment_column(roster, course.assignment, column)
    if match_column is not None:
        match = match_index(roster, match_column)
    db_url = db_url or default_db_url(course)
    with open_gradebook(course, db_url) as gb:
        totals, max_points = _read_totals(gb, course, db_url)
    chosen = None
    if match_column is None:
        match_column, chosen = choose_match_column(roster, (t.student for t in totals))
        match = match_index(roster, match_column)
    rows, result = fill(roster, index, match, {t.student: t.score for t in totals}, max_points)
    result.match_chosen = chosen
    waiting = sorted(t.student for t in totals if t.ungraded and t.student in result.filled)
    if waiting:
        result.warnings.append(f"{len(waiting)} submission(s) still have answers to grade by hand "
                               f"in formgrader; their totals count those as 0: {', '.join(waiting)}")
    atomic_write(out, roster_text(roster, rows).encode("utf-8"))
    result.out = out
    return result


def _read_totals(gb, course: "Course", db_url: str):
    """(each submission's totals, the assignment's points) from the gradebook."""
    from nbgrader.api import MissingEntry

    from .totals import assignment_totals

    try:
        cells, totals = assignment_totals(gb, course.assignment)
    except MissingEntry:
        raise CourseError(f"{db_url}: the gradebook has no assignment {course.assignment!r} "
                          "(grade it with `initkit grade` first)") from None
    return totals, cells.max_score


def report(result: CanvasExport) -> tuple[list[str], list[str]]:
    """What the command line prints: (stdout lines, stderr lines)."""
    out = [f"{result.out}: {len(result.filled)} score(s) in column {result.column!r} "
           f"(students matched by {result.match_column}"
           f"{', ' + result.match_chosen if result.match_chosen else ''}); "
           f"{len(result.no_submission)} roster student(s) without a submission left as they were",
           "Import it in Canvas: Grades > Import, choose the file, check the changes, Upload."]
    err = [f"warning: {w}" for w in result.warnings]
    if result.unmatched:
        err.append(f"{len(result.unmatched)} submission(s) have no row in the Canvas export "
                   f"(no {result.match_column} equal to their nbgrader student id), not exported:")
        err += [f"  {student}\t{num(score)}" for student, score in result.unmatched.items()]
    return out, err
