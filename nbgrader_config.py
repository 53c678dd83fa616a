"""nbgrader configuration for the initkit course (the repository root is the course directory).

Everything here is about making `nbgrader generate_assignment init_symmetry` give the same release
on every machine: a fixed course id and root, fixed stubs, and no header/footer or other
machine-dependent inputs.
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "initkit"
# The folder of this file, whatever the current directory is, so the API and the CLI agree.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# What a student sees in place of the instructor's solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.enforce_metadata = True

# Pinned rather than left to defaults that could change between nbgrader versions.
c.IncludeHeaderFooter.header = ""
c.IncludeHeaderFooter.footer = ""
c.LockCells.lock_solution_cells = True
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True
c.LockCells.lock_all_cells = False
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
# Only the notebook is released; editor leftovers never are.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# `nbgrader autograde` first brings each notebook back to the release's structure with initkit's
# rule (the one `initkit grade` applies), before nbgrader's own sanitising steps, so a student's
# duplicated or deleted cell never stops the run and both routes grade the same cells.
c.Autograde.sanitize_preprocessors = [
    "initkit.nbgrader_autograde.NormalizeHandIn",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# How student code is isolated when nbgrader autograde grades with initkit: "bubblewrap" refuses
# to grade where bubblewrap cannot start; "none" only if this machine is itself the boundary.
c.GradeWithInitkit.isolation = "bubblewrap"
# `nbgrader autograde` (and formgrader's Autograde button) grade with initkit: its step replaces
# nbgrader's Execute (which would run the visible tests in the student's kernel and overwrite
# initkit's scores); the rest is nbgrader's own list. See initkit/nbgrader_autograde.py.
c.Autograde.autograde_preprocessors = [
    "initkit.nbgrader_autograde.GradeWithInitkit",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
