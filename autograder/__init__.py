"""The course's hidden tests (never released to students): one package per assignment
(`autograder/<assignment>/`, each test marked with a criterion of that assignment's source
notebook), and helpers every assignment may share (`_checks.py`, imported as `from .. import
_checks`). Grading one assignment collects and ships only its own folder and these shared files.

Run one assignment's tests on one notebook with
`pytest autograder/<assignment> --submission PATH.ipynb`; batch grading runs the same tests
through initkit.grading.runner.
"""
