"""What a TA graded by hand in formgrader, read back from nbgrader's gradebook: the written
answers' scores and comments, the late penalty, and the total. The feedback pages show it."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ..nbgrader_env import alembic_on_path
from .gradebook import default_db_url

if TYPE_CHECKING:
    from ..course import Course


def manual_grades(course: "Course", db_url: str | None = None) -> dict[str, dict]:
    """{student: {"answers": [{"name", "score", "max_score", "comment"}], "late_penalty", "total",
    "max_total"}} for every submission of the course's assignment in the gradebook. A score is
    None while nobody has graded that answer."""
    from nbgrader.api import Gradebook, MissingEntry

    db_url = db_url or default_db_url(course)
    course_id = course.nbgrader_config().CourseDirectory.get("course_id") or "default_course"
    out: dict[str, dict] = {}
    with alembic_on_path(), warnings.catch_warnings(), Gradebook(db_url, course_id=course_id) as gb:
        warnings.filterwarnings("ignore", message=".*not in session.*")
        try:
            submissions = gb.assignment_submissions(course.assignment)
        except MissingEntry:
            return out
        for submission in submissions:
            answers = []
            for notebook in submission.notebooks:
                comments = {c.name: c.manual_comment or c.auto_comment for c in notebook.comments}
                for grade in notebook.grades:
                    if grade.name in course.criteria:
                        continue
                    answers.append({"name": grade.name, "max_score": grade.max_score,
                                    "score": grade.score if grade.manual_score is not None
                                    or grade.auto_score is not None else None,
                                    "comment": comments.get(grade.name) or ""})
            out[submission.student.id] = {
                "answers": answers,
                "late_penalty": float(submission.late_submission_penalty or 0.0),
                "total": float(submission.score) - float(submission.late_submission_penalty or 0.0),
                "max_total": float(submission.max_score)}
    return out
