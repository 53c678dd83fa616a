"""Run the hidden tests in autograder/ against one student session, without pytest's per-run cost.

pytest's start-up and collection take longer than grading a whole submission, so this module
imports the hidden test modules once per process, expands their `pytest.mark.parametrize` marks
as pytest does (same test names, same order), reads each test's `criterion` mark, and calls each
test with the fixtures `student` (the session) and `ref` (the trusted reference). The outcome of a
test is the same as under `pytest autograder --submission ...` (tests/test_autograder.py checks).

Outcomes: passed; failed (an AssertionError of the test, or StudentError: the student's function
raised); timeout (StudentTimeout, BudgetExhausted); error (StudentCrash, or an unexpected exception
in the test, reported generically: hidden test code and tracebacks never reach a message).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .criteria import CRITERIA
from .sandbox import BudgetExhausted, RepeatedTimeout, StudentCrash, StudentError, StudentTimeout

FIXTURES = ("student", "ref")
_PACKAGE = "_initkit_hidden_tests"
_MAX_TRACEBACK_LINES = 12


class HiddenTestsError(Exception):
    """The hidden tests cannot be loaded (a course set-up problem, not a submission's)."""


@dataclass(frozen=True)
class HiddenTest:
    name: str                      # as pytest names the item, e.g. "test_he_variance[400-100]"
    module: str                    # file name, e.g. "test_init.py"
    criterion: str
    func: Callable = field(repr=False)
    params: dict = field(default_factory=dict, repr=False)
    fixtures: tuple = ()


# --------------------------------------------------------------------------- collection

def _marks(obj) -> list:
    marks = getattr(obj, "pytestmark", [])
    return list(marks) if isinstance(marks, (list, tuple)) else [marks]


def _id_for(value, argname: str, index: int) -> str:
    """pytest's default id of one parameter value."""
    if isinstance(value, str):
        return value.encode("unicode_escape").decode("ascii")
    if value is None or isinstance(value, (bool, int, float, complex)):
        return str(value)
    return f"{argname}{index}"


def _expand(mark) -> list[tuple[str, dict]]:
    """One parametrize mark -> [(id, {argname: value})]."""
    from _pytest.mark.structures import ParameterSet

    argnames, argvalues = mark.args[0], mark.args[1]
    if isinstance(argnames, str):
        argnames = [a.strip() for a in argnames.split(",") if a.strip()]
    argnames = list(argnames)
    ids = mark.kwargs.get("ids")
    out = []
    for i, raw in enumerate(argvalues):
        given_id = None
        if isinstance(raw, ParameterSet):
            values, given_id = tuple(raw.values), raw.id
        else:
            values = (raw,) if len(argnames) == 1 else tuple(raw)
        if len(values) != len(argnames):
            raise HiddenTestsError(f"parametrize {argnames}: case {i} has {len(values)} values")
        if given_id is None and ids is not None:
            given_id = ids(raw) if callable(ids) else ids[i]
        if given_id is None:
            given_id = "-".join(_id_for(v, a, i) for v, a in zip(values, argnames))
        out.append((str(given_id), dict(zip(argnames, values))))
    return out


def _criterion(func, module) -> str:
    found = [m.args[0] for m in _marks(func) + _marks(module) if m.name == "criterion" and m.args]
    if not found:
        raise HiddenTestsError(f"{module.__name__}.{func.__name__} has no criterion mark")
    if found[0] not in CRITERIA:
        raise HiddenTestsError(f"{module.__name__}.{func.__name__}: unknown criterion {found[0]!r}")
    return found[0]


def _collect_module(module, filename: str) -> list[HiddenTest]:
    tests = []
    for name, func in list(vars(module).items()):
        if not (name.startswith("test") and inspect.isfunction(func)):
            continue
        criterion = _criterion(func, module)
        sets = [_expand(m) for m in _marks(func) if m.name == "parametrize"]
        argnames = list(inspect.signature(func).parameters)
        for combo in itertools.product(*sets) if sets else [()]:
            params = {}
            for _, values in combo:
                params.update(values)
            fixtures = tuple(a for a in argnames if a not in params)
            unknown = [a for a in fixtures if a not in FIXTURES]
            if unknown:
                raise HiddenTestsError(f"{filename}::{name} asks for unknown fixtures {unknown}")
            test_id = "-".join(i for i, _ in combo)
            tests.append(HiddenTest(f"{name}[{test_id}]" if combo else name, filename, criterion,
                                    func, params, fixtures))
    return tests


_LOADED: dict[str, list[HiddenTest]] = {}


def load_tests(hidden_dir=None) -> list[HiddenTest]:
    """The hidden tests in collection order (files by name, functions in definition order).

    Imported once per process and directory; the directory is a package (relative imports)."""
    if hidden_dir is None:
        from .paths import hidden_tests_dir

        hidden_dir = hidden_tests_dir()
    hidden_dir = Path(hidden_dir).resolve()
    key = str(hidden_dir)
    if key in _LOADED:
        return _LOADED[key]
    init = hidden_dir / "__init__.py"
    if not init.is_file():
        raise HiddenTestsError(f"{hidden_dir}: the hidden tests are missing (no __init__.py)")
    package = f"{_PACKAGE}{len(_LOADED)}"
    spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[key])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[package] = pkg
    spec.loader.exec_module(pkg)
    tests: list[HiddenTest] = []
    for path in sorted(hidden_dir.glob("test_*.py")):
        with warnings.catch_warnings():
            # `criterion` is registered by autograder/conftest.py, which only pytest loads.
            warnings.filterwarnings("ignore", message="Unknown pytest.mark.criterion")
            module = importlib.import_module(f"{package}.{path.stem}")
        tests.extend(_collect_module(module, path.name))
    names = [t.name for t in tests]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise HiddenTestsError(f"{hidden_dir}: test names used twice: {duplicated}")
    uncovered = [c for c in CRITERIA if c not in {t.criterion for t in tests}]
    if uncovered:
        raise HiddenTestsError(f"{hidden_dir}: no hidden test for criteria {uncovered}")
    _LOADED[key] = tests
    return tests


# --------------------------------------------------------------------------- outcomes

def _student_error_message(exc: StudentError) -> str:
    fn = exc.fn
    if exc.exc_type == "NameError" and "is not defined (or not a function) in the notebook" in exc.message \
            and repr(fn) in exc.message:
        return f"{fn} is not defined in your notebook (run its cell, and keep the name unchanged)"
    if exc.exc_type == "NotImplementedError":
        return f"{fn} is not implemented yet (it raises NotImplementedError)"
    text = f"{fn} raised {exc.exc_type}" + (f": {exc.message}" if exc.message else "")
    lines = (exc.traceback or "").strip().splitlines()
    if lines:
        text += "\n" + "\n".join(lines[-_MAX_TRACEBACK_LINES:])
    return text


def describe(exc: BaseException) -> tuple[str, str]:
    """(outcome, message) for an exception a hidden test raised; the message shows no test code."""
    if isinstance(exc, AssertionError):
        return "failed", str(exc) or "the check failed"
    if isinstance(exc, StudentError):
        return "failed", _student_error_message(exc)
    if isinstance(exc, (BudgetExhausted, RepeatedTimeout)):
        return "timeout", str(exc)
    if isinstance(exc, StudentTimeout):
        return "timeout", f"{exc.fn} took longer than {exc.seconds:g} s (time limit)"
    if isinstance(exc, StudentCrash):
        return "error", f"{exc.fn}: the process running your code crashed ({exc.reason})"
    return "error", ("this check could not be completed: the grader hit an unexpected "
                     f"{type(exc).__name__} while checking what your code returned")


def run_test(test: HiddenTest, student, ref) -> tuple[str, str]:
    available = {"student": student, "ref": ref}
    kwargs = {name: available[name] for name in test.fixtures}
    kwargs.update(test.params)
    try:
        test.func(**kwargs)
    except Exception as exc:  # noqa: BLE001 - every failure of a test is an outcome, never a crash
        return describe(exc)
    return "passed", ""


def shares(tests: list[HiddenTest]) -> dict[str, float]:
    """Points per test of each criterion: its points shared equally among its tests."""
    counts = {c: 0 for c in CRITERIA}
    for t in tests:
        counts[t.criterion] += 1
    return {c: CRITERIA[c] / n for c, n in counts.items() if n}


def run_tests(student, ref=None, tests: list[HiddenTest] | None = None) -> list[dict]:
    """Every hidden test against `student`: [{"name", "criterion", "outcome", "score",
    "max_score", "message"}] in collection order."""
    if ref is None:
        from .reference import reference

        ref = reference()
    tests = load_tests() if tests is None else tests
    share = shares(tests)
    results = []
    for test in tests:
        outcome, message = run_test(test, student, ref)
        points = share[test.criterion]
        results.append({"name": test.name, "criterion": test.criterion, "outcome": outcome,
                        "score": points if outcome == "passed" else 0.0, "max_score": points,
                        "message": message})
    return results


def criteria_scores(results: list[dict]) -> dict[str, dict]:
    """{criterion: {"score", "max_score"}} for every criterion, in the fixed order."""
    out = {c: {"score": 0.0, "max_score": points} for c, points in CRITERIA.items()}
    passed = {c: 0 for c in CRITERIA}
    total = {c: 0 for c in CRITERIA}
    for r in results:
        total[r["criterion"]] += 1
        passed[r["criterion"]] += r["outcome"] == "passed"
    for c, points in CRITERIA.items():
        if total[c]:
            out[c]["score"] = round(points * passed[c] / total[c], 6)
    return out
