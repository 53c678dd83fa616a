"""`pytest autograder/<assignment> --submission PATH.ipynb`: grade one notebook with the hidden
tests of that assignment (`pytest autograder --submission ...` where the course has one).

The notebook runs in the sandbox (initkit.sandbox); the fixtures are `student` (its session), `ref`
(the trusted reference from the source notebook) and `diagnosis` (its diagnosis cell's
functions). A failed test shows only the message a student can act on (initkit.runner.describe),
never the hidden test's code or traceback, and the run ends with the per-criterion score summary. `--results-json FILE` also writes the outcomes.
"""

import json
from pathlib import Path

import pytest

from initkit.course import Course, CourseError
from initkit.grading import runner
from initkit.grading.result import criteria_scores


def pytest_addoption(parser):
    group = parser.getgroup("initkit")
    group.addoption("--submission", metavar="PATH.ipynb", help="the notebook to grade")
    group.addoption("--assignment", default=None,
                    help="the course's assignment (default: the autograder/<assignment> folder "
                    "named on the command line, else the only one in source/)")
    group.addoption("--in-process", action="store_true",
                    help="run the notebook in this process, WITHOUT isolation (trusted notebooks only)")
    group.addoption("--results-json", metavar="FILE", help="also write the test outcomes as JSON")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "criterion(name): the grading criterion a hidden test belongs to")
    config._initkit_results = []
    # One notebook, one session, the tests in order: whatever pytest options the folder it is run
    # from sets (this repository's pyproject.toml spreads its own tests over cores with
    # pytest-xdist), the hidden tests run in this process, before xdist's configure sees them.
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"


def _named_assignment(config) -> str | None:
    """The assignment whose folder (autograder/<assignment>) the command line names, if one."""
    here = Path(__file__).resolve().parent
    named = set()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path != here and here in path.parents:
            named.add(path.relative_to(here).parts[0])
    return named.pop() if len(named) == 1 else None


def _course(config) -> Course:
    """The course these hidden tests belong to: the folder above autograder/."""
    if not hasattr(config, "_initkit_course"):
        try:
            config._initkit_course = Course.open(
                Path(__file__).resolve().parent.parent,
                config.getoption("--assignment") or _named_assignment(config))
        except CourseError as exc:
            pytest.exit(f"cannot grade: {exc}", returncode=4)
    return config._initkit_course


@pytest.fixture(scope="session")
def ref(request):
    from initkit.reference import reference

    return reference(_course(request.config))


@pytest.fixture(scope="session")
def diagnosis(request):
    """The source notebook's diagnosis cells (the visible checks' own messages), as functions."""
    from initkit.reference import diagnosis

    return diagnosis(_course(request.config))


@pytest.fixture(scope="session")
def student(request):
    from initkit.handin import read_submission
    from initkit.submission import SubmissionError

    path = request.config.getoption("--submission")
    if not path:
        pytest.exit("usage: pytest autograder/<assignment> --submission PATH.ipynb", returncode=4)
    try:
        cells = read_submission(path)
    except SubmissionError as exc:
        pytest.exit(f"cannot grade: {exc}", returncode=3)
    if request.config.getoption("--in-process"):
        from initkit.sandbox.inprocess import InProcessStudent

        session = InProcessStudent(cells)
        yield session
        session.close()
        return
    from initkit.sandbox import SandboxHost

    with SandboxHost() as host, host.open_session(cells) as session:
        yield session


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if call.when != "call":
        return
    marker = item.get_closest_marker("criterion")
    if call.excinfo is None:
        outcome, message = "passed", ""
    else:
        outcome, message = runner.describe(call.excinfo.value)
        report.longrepr = f"[{outcome}] {message}"   # the student's message only, no test code
    item.config._initkit_results.append({"name": item.name, "criterion": marker.args[0] if marker else None,
                                         "outcome": outcome, "message": message})


def pytest_terminal_summary(terminalreporter, config):
    results = config._initkit_results
    if not results:
        return
    course = _course(config)
    scores = criteria_scores([r for r in results if r["criterion"] in course.criteria], course.criteria)
    tr = terminalreporter
    tr.section("initkit test outcomes")
    for r in results:
        tr.write_line(f"{r['outcome'].upper():<8} {r['name']}  ({r['criterion']})")
    tr.section("initkit score by criterion")
    for name, s in scores.items():
        mine = [r for r in results if r["criterion"] == name]
        passed = sum(r["outcome"] == "passed" for r in mine)
        tr.write_line(f"{name:<20} {s['score']:6.2f} / {s['max_score']:<3g}  ({passed}/{len(mine)} tests passed)")
    total = sum(s["score"] for s in scores.values())
    tr.write_line(f"{'total':<20} {total:6.2f} / {course.max_score:g}")
    path = config.getoption("--results-json")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"tests": results, "criteria": scores, "score": round(total, 6)}, f, indent=1)
