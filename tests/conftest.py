"""Options shared by the test suite."""


def pytest_addoption(parser):
    # Golden files (e.g. tests/reports/golden/) change only on purpose: this rewrites them, and
    # the diff is then reviewed like code.
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files from the current output instead of comparing")
