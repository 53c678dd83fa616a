"""Options and fixtures shared by the test suite."""

import pytest


def pytest_addoption(parser):
    # Golden files (e.g. tests/reports/golden/) change only on purpose: this rewrites them, and
    # the diff is then reviewed like code.
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output instead of comparing")


def pytest_configure(config):
    # api.grade writes the reports in a process forked from this one (reports/batch.py):
    # with what they import (nbgrader, matplotlib) loaded here once, each test's fork starts with
    # it instead of importing it again (about 2 s per grading run).
    from initkit.reports.writer import warm_up

    warm_up()



@pytest.fixture
def fake_batch(monkeypatch):
    """Route initkit.api's batch call to the fake grader (tests/fakes.py; no sandbox needed)."""
    from fakes import fake_grade
    from initkit import api

    real = api.grade_batch

    def grade_batch(*args, **kwargs):
        return real(*args, grade=fake_grade, host_factory=None, **kwargs)

    monkeypatch.setattr(api, "grade_batch", grade_batch)
