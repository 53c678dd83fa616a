"""The grade tables: grades.csv (one row per student, a column per criterion in the course's
order, then the error of a row that could not be graded) and grades.json (every result in full)."""

from __future__ import annotations

import csv
import io
import json
from typing import Callable, Iterable, Iterator, Mapping

from ..files import json_default


def num(x: float) -> str:
    """Scores as short decimal strings: 10 -> "10", 3.3333333 -> "3.333"."""
    return f"{round(float(x), 3):g}"


def grades_csv(results: list[dict], criteria: Mapping[str, float]) -> str:
    """student, score, max_score, status, a column per criterion, then error: empty for a graded
    row, the reason for an error row (last, so the columns before it keep their places)."""
    return csv_header(criteria) + "".join(csv_line(r, criteria) for r in results)


def csv_header(criteria: Mapping[str, float]) -> str:
    """grades.csv's first line."""
    return _csv_text(["student", "score", "max_score", "status", *criteria, "error"])


def csv_line(r: dict, criteria: Mapping[str, float]) -> str:
    """One result's line of grades.csv (a batch keeps this, not the result)."""
    return _csv_text([r["student"], num(r["score"]), num(r["max_score"]), r["status"],
                      *(num(r["criteria"][name]["score"]) for name in criteria),
                      (r.get("error") or "") if r["status"] == "error" else ""])


def _csv_text(fields: list) -> str:
    buf = io.StringIO()
    # "\r\n" (RFC 4180): a field holding a bare "\r" (a student folder's name can) is then quoted.
    csv.writer(buf, lineterminator="\r\n").writerow(fields)
    return buf.getvalue()


def last_rows(out_dir) -> dict[str, dict]:
    """The last run's rows in `out_dir`'s grades.json, by student ({} if there was none)."""
    from pathlib import Path

    return {r["student"]: r for r in read_grades_json(Path(out_dir) / "grades.json") or []}


def read_grades_json(path, keep: Callable[[dict], object] | None = None) -> list | None:
    """The results in a grades.json (None if there is none or it cannot be read), each passed
    through `keep` as it is read when given: a batch keeps only what it needs of each row, never
    the whole file's rows at once (grades_json writes a row per line; any other valid layout is
    read whole)."""
    keep = keep or (lambda row: row)
    try:
        with open(path, encoding="utf-8") as f:
            rows = _rows_by_line(f, keep)
            if rows is not None:
                return rows
            f.seek(0)
            found = json.load(f).get("submissions")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(found, list):
        return None
    return [keep(r) for r in found if isinstance(r, dict) and "student" in r]


def _rows_by_line(f, keep) -> list | None:
    """The rows of a file in grades_json's own layout (a row per line, each but the last followed
    by a comma), read a line at a time; None if the file is laid out otherwise."""
    head = f.readline()
    try:
        if not head.endswith(_ROWS_START + "\n") or not isinstance(json.loads(head[:-1] + "]}"), dict):
            return None
        lines = iter(f)
        row = next(lines, None)
        if row == "\n":                                     # no rows
            return [] if next(lines, None) == "]}\n" and next(lines, None) is None else None
        rows = []
        for line in lines:
            last = line == "]}\n"
            if row is None or not row.endswith("\n" if last else ",\n"):
                return None
            value = json.loads(row[:-1] if last else row[:-2])
            if isinstance(value, dict) and "student" in value:
                rows.append(keep(value))
            if last:
                return rows if next(lines, None) is None else None
            row = line
    except ValueError:        # not this layout (rows over several lines?): read whole
        return None
    return None


_ROWS_START = ', "submissions": ['


def grades_json(results: list[dict], assignment: str, max_score: float) -> str:
    """Every result without the student's code (that is in the feedback pages), one per line:
    json's indenting encoder is pure Python, much slower than its C one."""
    return "".join(grades_json_parts([json_line(r) for r in results], assignment, max_score))


def json_line(r: dict) -> str:
    """One result's line of grades.json (a batch keeps this, on disk, not the result)."""
    return json.dumps({k: v for k, v in r.items() if k != "student_code"}, default=json_default)


def grades_json_parts(lines: Iterable[str], assignment: str, max_score: float) -> Iterator[str]:
    """grades.json's text in parts, from each row's json_line (in order)."""
    yield json.dumps({"assignment": assignment, "max_score": max_score})[:-1] + _ROWS_START + "\n"
    for i, line in enumerate(lines):
        yield line if i == 0 else ",\n" + line
    yield "\n]}\n"
