"""Collect the hidden tests of a course: each test function, its parameters and its criterion.

The hidden tests are imported once per process and folder, under a package name of their own (so
two courses never share modules), and expanded as pytest expands them: the same names, in the
same order (tests/grading/test_runner.py compares with pytest's own collection).
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
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..course import Course

FIXTURES = ("student", "ref")
_PACKAGE = "_initkit_hidden_tests"


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


def _criterion(func, module, criteria) -> str:
    found = [m.args[0] for m in _marks(func) + _marks(module) if m.name == "criterion" and m.args]
    if not found:
        raise HiddenTestsError(f"{module.__name__}.{func.__name__} has no criterion mark")
    if found[0] not in criteria:
        raise HiddenTestsError(f"{module.__name__}.{func.__name__}: criterion {found[0]!r} is not a "
                               "grade_id of the source notebook's autograded test cells "
                               f"({', '.join(criteria)})")
    return found[0]


def _collect_module(module, filename: str, criteria) -> list[HiddenTest]:
    tests = []
    for name, func in list(vars(module).items()):
        if not (name.startswith("test") and inspect.isfunction(func)):
            continue
        criterion = _criterion(func, module, criteria)
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


_LOADED: dict[tuple, list[HiddenTest]] = {}


def load_tests(course: "Course") -> list[HiddenTest]:
    """The course's hidden tests in collection order (files by name, functions in definition
    order), each marked with one of the course's criteria; every criterion has a test.

    Imported once per process and folder; the folder is a package (relative imports)."""
    hidden_dir = Path(course.hidden_tests).resolve()
    criteria = course.criteria
    key = (str(hidden_dir), tuple(criteria))
    if key in _LOADED:
        return _LOADED[key]
    init = hidden_dir / "__init__.py"
    if not init.is_file():
        raise HiddenTestsError(f"{hidden_dir}: the hidden tests are missing (no __init__.py)")
    package = f"{_PACKAGE}{len(_LOADED)}"
    spec = importlib.util.spec_from_file_location(package, init,
                                                  submodule_search_locations=[str(hidden_dir)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[package] = pkg
    spec.loader.exec_module(pkg)
    tests: list[HiddenTest] = []
    for path in sorted(hidden_dir.glob("test_*.py")):
        with warnings.catch_warnings():
            # `criterion` is registered by autograder/conftest.py, which only pytest loads.
            warnings.filterwarnings("ignore", message="Unknown pytest.mark.criterion")
            module = importlib.import_module(f"{package}.{path.stem}")
        tests.extend(_collect_module(module, path.name, criteria))
    names = [t.name for t in tests]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise HiddenTestsError(f"{hidden_dir}: test names used twice: {duplicated}")
    uncovered = [c for c in criteria if c not in {t.criterion for t in tests}]
    if uncovered:
        raise HiddenTestsError(f"{hidden_dir}: no hidden test for criteria {uncovered}")
    _LOADED[key] = tests
    return tests


