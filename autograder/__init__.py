"""The hidden tests of init_symmetry (never released to students).

Run them on one notebook with `pytest autograder --submission PATH.ipynb`; batch grading runs the
same tests through initkit.runner. A package so the test modules share `_checks` by relative import.
"""
