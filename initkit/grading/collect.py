"""Collect the hidden tests of a course: each test function, its parameters and its criterion.

pytest itself collects them, in this process (`pytest.main([..., "--collect-only"])` with a small
plugin that keeps the items), so the names, the order and the parametrization are pytest's by
construction: stacked `parametrize` marks, ids given as a list or a callable, `pytest.param(...,
id=..., marks=...)`, a hidden conftest's `pytest_generate_tests`. runner.py then calls each test
function itself with the `student` and `ref` fixtures (pytest's per-run cost is paid once).

Public pytest API only (pytest.main, the plugin hooks pytest_collectreport and
pytest_collection_finish, pytest.Function's name, path, function, cls, module, fixturenames,
get_closest_marker and iter_markers), with one exception: the parameter values of a parametrized
item are read from `item.callspec.params`. pytest has no documented way to get them before the test runs;
`callspec` is the attribute pytest's own docstring names for it ("stored in item.callspec",
_pytest/python.py) and that plugins use, and pytest's maintainers call it semi-private
(pytest-dev/pytest#9154). It is read in one place, `_params`.

Isolation. Collection must leave the process as it found it, so that a second course (another
folder, also named autograder/) is collected cleanly in the same process:
  * no ini file (`-c os.devnull`): pytest's defaults, never a course's or the user's `addopts`;
    PYTEST_ADDOPTS and PYTEST_PLUGINS are set aside and plugin autoloading is off meanwhile;
  * `--confcutdir` the hidden folder: its conftest.py (which registers the `criterion` mark and the
    options) is loaded, no conftest.py above it;
  * `--import-mode=importlib`: sys.path is not touched; `--assert=plain`: the test modules are
    imported as plain Python (as the runner calls them), no import hook, no rewritten .pyc;
  * no .pytest_cache (`-p no:cacheprovider`) and no plugin that swaps process-wide hooks
    (faulthandler, logging handlers, pdb, unraisable/thread exception hooks);
  * pytest's output goes to a buffer, shown only in a HiddenTestsError;
  * pytest imports the folder as `autograder` (`autograder.test_init`, ...). Afterwards those
    modules move to a package name of their own (`_initkit_hidden_tests<N>`), so two courses
    never share modules and relative imports keep working, and whatever was registered under the
    `autograder` names before is put back.
Collection is serialised by a lock; it swaps sys.stdout and sys.stderr for its duration, so call
`load_tests` before starting threads that print (grade.py does; a batch may call it in the parent
before forking workers, and the workers inherit the cache).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from ..course import Course

FIXTURES = ("student", "ref", "diagnosis")
_PACKAGE = "_initkit_hidden_tests"
# Marks that change whether or how pytest runs a test; the runner calls every test as it is.
_UNSUPPORTED_MARKS = ("skip", "skipif", "xfail", "usefixtures")
# Plugins that would write files in the course or swap process-wide state while collecting.
_BLOCKED_PLUGINS = ("cacheprovider", "faulthandler", "logging", "debugging", "unraisableexception",
                    "threadexception", "terminalprogress")
_OUTPUT_TAIL = 4000           # characters of pytest's output kept in an error message


class HiddenTestsError(Exception):
    """The hidden tests cannot be loaded (a course set-up problem, not a submission's)."""


@dataclass(frozen=True)
class HiddenTest:
    name: str                      # as pytest names the item, e.g. "test_he_variance[400-100]"
    module: str                    # file, relative to the hidden folder, e.g. "test_init.py"
    criterion: str
    func: Callable = field(repr=False)
    params: dict = field(default_factory=dict, repr=False)
    fixtures: tuple = ()


# --------------------------------------------------------------------------- pytest's collection

class _Collector:
    """pytest plugin: keeps the collected items and the failed collection reports."""

    def __init__(self):
        self.items: list = []
        self.errors: list = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append(report)

    def pytest_collection_finish(self, session):
        self.items = list(session.items)


def _pytest_args(hidden_dir: Path) -> list[str]:
    args = [str(hidden_dir), "--collect-only", "-qq",
            "-c", os.devnull, "--rootdir", str(hidden_dir), "--confcutdir", str(hidden_dir),
            "--import-mode=importlib", "--assert=plain", "--capture=no"]
    for name in _BLOCKED_PLUGINS:
        args += ["-p", f"no:{name}"]
    return args


@contextlib.contextmanager
def _pytest_environment() -> Iterator[None]:
    """No PYTEST_ADDOPTS / PYTEST_PLUGINS and no plugin autoloading while collecting."""
    saved = {k: os.environ.get(k) for k in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS",
                                            "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ.pop("PYTEST_PLUGINS", None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _pytest_package_name(hidden_dir: Path) -> str:
    """The dotted name pytest's importlib mode gives the folder: its path from the highest folder
    of the chain of packages (folders with __init__.py) it is in, e.g. "autograder"."""
    parts, parent = [hidden_dir.name], hidden_dir.parent
    while (parent / "__init__.py").is_file() and parent.parent != parent:
        parts.insert(0, parent.name)
        parent = parent.parent
    return ".".join(parts)


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


_PACKAGE_NUMBERS = itertools.count()


def _fresh_package() -> str:
    while True:
        name = f"{_PACKAGE}{next(_PACKAGE_NUMBERS)}"
        if not any(_is_under(m, name) for m in sys.modules):
            return name


def _rename_module(module, old: str, new: str) -> None:
    """Make `module` (imported as `old`) the module `new`: its name, spec and package (relative
    imports, also inside functions called later), and the functions and classes it defines."""
    is_package = hasattr(module, "__path__")
    module.__name__ = new
    module.__package__ = new if is_package else new.rpartition(".")[0]
    spec = getattr(module, "__spec__", None)
    if spec is not None:
        spec.name = new
        if getattr(spec.loader, "name", None) == old:
            spec.loader.name = new
    for value in list(vars(module).values()):
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == old:
            value.__module__ = new
    sys.modules[new] = module


@contextlib.contextmanager
def _own_package(hidden_dir: Path) -> Iterator[dict]:
    """While pytest imports the folder under its dotted name (e.g. "autograder.init_symmetry"),
    that name's top package and its submodules are free in sys.modules; afterwards the whole
    package pytest imported (the assignment's tests and the helpers they share one level up)
    moves to a fresh top-level name, so relative imports inside tests keep working when they run
    later (yielded dict: "package", the tests' package under its new name, set on exit), and what
    was there before is put back."""
    dotted = _pytest_package_name(hidden_dir)
    top = dotted.partition(".")[0]
    top_dir = hidden_dir
    for _ in dotted.split(".")[1:]:
        top_dir = top_dir.parent
    hidden = {n: m for n, m in sys.modules.items() if _is_under(n, top)}
    for name in hidden:
        del sys.modules[name]
    info: dict = {}
    try:
        yield info
    finally:
        imported = {n: m for n, m in sys.modules.items() if _is_under(n, top)}
        for name in imported:
            del sys.modules[name]
        init = (top_dir / "__init__.py").resolve()
        package = imported.get(top)
        if dotted in imported and package is not None and \
                Path(getattr(package, "__file__", "") or "").resolve() == init:
            new = _fresh_package()
            info["package"] = new + dotted[len(top):]
            for name, module in imported.items():
                _rename_module(module, name, new + name[len(top):])
        sys.modules.update(hidden)


@contextlib.contextmanager
def _output_to(buffer: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield


def _collect_items(hidden_dir: Path) -> list:
    """pytest's items for the hidden folder, its modules imported under a package name of their
    own."""
    import pytest

    if pytest.version_tuple < (8, 2):
        # importlib mode imports a test module within its package (relative imports) since 8.2
        raise HiddenTestsError(f"collecting the hidden tests needs pytest 8.2 or later (this is "
                               f"pytest {pytest.__version__})")
    collector = _Collector()
    output = io.StringIO()
    with _pytest_environment(), _own_package(hidden_dir) as info, _output_to(output):
        code = pytest.main(_pytest_args(hidden_dir), plugins=[collector])
    if collector.errors:
        details = "\n".join(f"{r.nodeid or '.'}:\n{r.longreprtext}" for r in collector.errors)
        raise HiddenTestsError(f"{hidden_dir}: the hidden tests cannot be collected:\n"
                               f"{_tail(details)}")
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise HiddenTestsError(f"{hidden_dir}: pytest could not collect the hidden tests "
                               f"(exit code {int(code)}):\n{_tail(output.getvalue())}")
    for item in collector.items:
        module = getattr(item, "module", None)
        if module is None or not _is_under(module.__name__, info.get("package", "?")):
            raise HiddenTestsError(f"{hidden_dir}: pytest took {item.nodeid} from a module "
                                   "outside the hidden tests' own package (a module name clash)")
    return collector.items


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _OUTPUT_TAIL else "...\n" + text[-_OUTPUT_TAIL:]


def _relative(path: Path, hidden_dir: Path) -> str:
    try:
        return path.resolve().relative_to(hidden_dir).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- items -> HiddenTest

def _params(item) -> dict:
    """The parameter values of a parametrized item, {} for a plain one (the one non-public read:
    see the module docstring)."""
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


def _hidden_test(item, hidden_dir: Path, criteria) -> HiddenTest:
    import pytest

    file = _relative(Path(item.path), hidden_dir)
    where = f"{file}::{item.name}"
    if not isinstance(item, pytest.Function):
        raise HiddenTestsError(f"{where}: a {type(item).__name__} item; the grader runs test "
                               "functions only")
    if item.cls is not None:
        raise HiddenTestsError(f"{where}: a test method of class {item.cls.__name__}; the grader "
                               "runs module-level test functions only (move it out of the class)")
    for mark in _UNSUPPORTED_MARKS:
        if item.get_closest_marker(mark) is not None:
            raise HiddenTestsError(f"{where}: the {mark} mark is not supported (the grader runs "
                                   "every hidden test, with the student and ref fixtures only)")
    if any(m.kwargs.get("indirect") for m in item.iter_markers("parametrize")):
        raise HiddenTestsError(f"{where}: indirect parametrization is not supported (the grader "
                               "passes parameters to the test function directly)")
    mark = item.get_closest_marker("criterion")
    if mark is None or not mark.args:
        raise HiddenTestsError(f"{where}: no criterion mark (@pytest.mark.criterion(\"name\"))")
    criterion = mark.args[0]
    if criterion not in criteria:
        raise HiddenTestsError(f"{where}: criterion {criterion!r} is not a grade_id of the source "
                               f"notebook's autograded test cells ({', '.join(criteria)})")
    params = _params(item)
    func = item.function
    requested = set(item.fixturenames)
    fixtures = tuple(a for a in inspect.signature(func).parameters
                     if a in requested and a not in params)
    unknown = [a for a in fixtures if a not in FIXTURES]
    if unknown:
        raise HiddenTestsError(f"{where} asks for fixtures {unknown}; the grader provides only "
                               f"{', '.join(FIXTURES)}")
    return HiddenTest(item.name, file, criterion, func, params, fixtures)


# --------------------------------------------------------------------------- load_tests

_LOCK = threading.Lock()
_COLLECTED: dict[str, list] = {}                   # folder -> pytest's items
_LOADED: dict[tuple, list[HiddenTest]] = {}        # (folder, criteria) -> tests


def load_tests(course: "Course") -> list[HiddenTest]:
    """The course's hidden tests in pytest's collection order, each marked with one of the
    course's criteria; every criterion has a test.

    Collected once per process and folder: most of the cost is importing the test modules
    (numpy), not pytest's own work. The folder is a package (relative imports). Requires
    pytest 8.2 or later."""
    hidden_dir = Path(course.hidden_tests).resolve()
    criteria = course.criteria
    key = (str(hidden_dir), tuple(criteria))
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        if not (hidden_dir / "__init__.py").is_file():
            raise HiddenTestsError(f"{hidden_dir}: the hidden tests are missing (no __init__.py)")
        if str(hidden_dir) not in _COLLECTED:
            _COLLECTED[str(hidden_dir)] = _collect_items(hidden_dir)
        tests = [_hidden_test(item, hidden_dir, criteria) for item in _COLLECTED[str(hidden_dir)]]
        files: dict[str, list[str]] = {}
        for t in tests:
            files.setdefault(t.name, []).append(t.module)
        duplicated = [f"{name} ({', '.join(where)})" for name, where in files.items() if len(where) > 1]
        if duplicated:
            raise HiddenTestsError(f"{hidden_dir}: test names used twice: {'; '.join(duplicated)}")
        uncovered = [c for c in criteria if c not in {t.criterion for t in tests}]
        if uncovered:
            raise HiddenTestsError(f"{hidden_dir}: no hidden test for criteria {uncovered}")
        _LOADED[key] = tests
        return tests
