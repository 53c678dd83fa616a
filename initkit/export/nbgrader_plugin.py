"""An nbgrader export plugin: the scores of every autograded cell, with the totals.

    nbgrader export --exporter=initkit.export.nbgrader_plugin.CriteriaExportPlugin \\
                    --to=scores.csv [--assignment=init_symmetry] [--student=[alice,bob]]

(or `c.ExportApp.plugin_class = "initkit.export.nbgrader_plugin.CriteriaExportPlugin"` in
nbgrader_config.py). One row per assignment and student, like nbgrader's own CsvExportPlugin,
students who submitted nothing included (with zeros); the columns:

    assignment, duedate, timestamp, student_id, last_name, first_name, email, submitted,
    <one column per autograded cell: its score>,
    autograded_score, manual_score, raw_score, late_submission_penalty, score, max_score,
    needs_manual_grade

A cell's column is its grade_id (initkit's criterion), `notebook:grade_id` when two notebooks of
an assignment use the same grade_id; exporting several assignments gives the union of their
cells' columns, blank where an assignment has no such cell. `score` is nbgrader's:
max(0, raw_score - late_submission_penalty). See initkit.export.totals for how each is read.
"""

from __future__ import annotations

import csv

from nbgrader.plugins import ExportPlugin

from ..reports.tables import num
from .totals import SubmissionTotals, assignment_totals

DEFAULT_FILE = "grades_by_criterion.csv"
HEAD = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
        "submitted"]
TAIL = ["autograded_score", "manual_score", "raw_score", "late_submission_penalty", "score",
        "max_score", "needs_manual_grade"]


class CriteriaExportPlugin(ExportPlugin):
    """Per-criterion scores with totals, one CSV row per assignment and student."""

    def export(self, gradebook) -> None:
        dest = self.to or DEFAULT_FILE
        assignments = _names(self.assignment)
        students = _names(self.student) or None
        names = [a.name for a in gradebook.assignments
                 if not assignments or a.name in assignments]
        self.log.info("Exporting per-criterion scores to %s", dest)
        if assignments:
            self.log.info("Exporting only assignments: %s", assignments)
            missing = sorted(set(assignments) - set(names))
            if missing:
                self.log.warning("No such assignment in the gradebook: %s", ", ".join(missing))
        if students:
            self.log.info("Exporting only students: %s", students)
        header, rows = table(gradebook, names, students)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)


def table(gradebook, assignments: list[str],
          students: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the export for these assignments of the gradebook."""
    per_assignment = []
    cells: dict[str, None] = {}           # every assignment's cell columns, in order
    for name in assignments:
        found, totals = assignment_totals(gradebook, name, students, include_missing=True)
        per_assignment.append((found, totals))
        cells.update(dict.fromkeys(found.autograded))
    rows = []
    for found, totals in per_assignment:
        for t in totals:
            rows.append(_row(t, found.duedate, list(cells)))
    return HEAD + list(cells) + TAIL, rows


def _row(t: SubmissionTotals, duedate, cells: list[str]) -> list[str]:
    return [t.assignment, _text(duedate), _text(t.timestamp), t.student, _text(t.last_name),
            _text(t.first_name), _text(t.email), str(t.submitted),
            *(num(t.autograded[c]) if c in t.autograded else "" for c in cells),
            num(t.autograded_score), num(t.manual_score), num(t.raw_score), num(t.late_penalty),
            num(t.score), num(t.max_score), str(bool(t.ungraded))]


def _names(values) -> list[str]:
    """The ids given to --assignment or --student. nbgrader's help writes a list as
    `--student [id1,id2]`, which the command line hands over as one string unless each id is
    quoted: that string is read as the list it means."""
    names = []
    for value in values:
        text = str(value).strip()
        if text.startswith("[") and text.endswith("]"):
            names += [n.strip().strip("'\"") for n in text[1:-1].split(",") if n.strip()]
        else:
            names.append(text)
    return names


def _text(value) -> str:
    return "" if value is None else str(value)
