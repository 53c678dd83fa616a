"""The grade tables: grades.csv (one row per student, a column per criterion in the course's
order, then the error of a row that could not be graded) and grades.json (every result in full)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Mapping

from ..files import json_default


def num(x: float) -> str:
    """Scores as short decimal strings: 10 -> "10", 3.3333333 -> "3.333"."""
    return f"{round(float(x), 3):g}"


def grades_csv(results: list[dict], criteria: Mapping[str, float]) -> str:
    """student, score, max_score, status, a column per criterion, then error: empty for a graded
    row, the reason for an error row (last, so the columns before it keep their places)."""
    buf = io.StringIO()
    # "\r\n" (RFC 4180): a field holding a bare "\r" (a student folder's name can) is then quoted.
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["student", "score", "max_score", "status", *criteria, "error"])
    for r in results:
        writer.writerow([r["student"], num(r["score"]), num(r["max_score"]), r["status"],
                         *(num(r["criteria"][name]["score"]) for name in criteria),
                         (r.get("error") or "") if r["status"] == "error" else ""])
    return buf.getvalue()


def read_grades_json(path) -> list[dict] | None:
    """The results in a grades.json (None if there is none or it cannot be read)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8")).get("submissions")
    except (OSError, ValueError, AttributeError):
        return None
    return [r for r in rows if isinstance(r, dict) and "student" in r] if isinstance(rows, list) else None


def grades_json(results: list[dict], assignment: str, max_score: float) -> str:
    """Every result without the student's code (that is in the feedback pages), one per line:
    json's indenting encoder is pure Python, 10x slower than its C one (1.6 s for 1,000)."""
    rows = ",\n".join(json.dumps({k: v for k, v in r.items() if k != "student_code"},
                                  default=json_default) for r in results)
    head = json.dumps({"assignment": assignment, "max_score": max_score})[:-1]
    return f'{head}, "submissions": [\n{rows}\n]}}\n'
