"""initkit.grading.collect: the hidden tests as pytest itself collects them (names, order,
criteria, parameters), isolated per course, with clear errors for what the grader cannot run."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from initkit.course import Course
from initkit.grading import collect, runner
from initkit.grading.collect import HiddenTestsError, load_tests

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "init_symmetry"
COURSE = Course.open(REPO, ASSIGNMENT)

# A pytest plugin for the reference run: what pytest itself sees for each item.
_DUMP_PLUGIN = '''
import json, os

def pytest_collection_finish(session):
    rows = []
    for item in session.items:
        mark = item.get_closest_marker("criterion")
        callspec = getattr(item, "callspec", None)
        rows.append({"name": item.name, "file": item.path.name,
                     "criterion": mark.args[0] if mark and mark.args else None,
                     "params": {k: repr(v) for k, v in (callspec.params if callspec else {}).items()}})
    with open(os.environ["INITKIT_DUMP_ITEMS"], "w", encoding="utf-8") as f:
        json.dump(rows, f)
'''


def pytest_view(course_root: Path, tmp_path: Path, folder: str = "autograder") -> list[dict]:
    """`python -m pytest <folder> --collect-only -q`, run from the course folder in a separate
    process as an instructor runs it: one {name, file, criterion, params (reprs)} per item."""
    plugin_dir = tmp_path / "dump_plugin"
    plugin_dir.mkdir(exist_ok=True)
    (plugin_dir / "_initkit_dump_items.py").write_text(_DUMP_PLUGIN, encoding="utf-8")
    dump = plugin_dir / "items.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir), env.get("PYTHONPATH")]))
    env["INITKIT_DUMP_ITEMS"] = str(dump)
    proc = subprocess.run([sys.executable, "-m", "pytest", folder, "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-p", "_initkit_dump_items"],
                          cwd=course_root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(dump.read_text(encoding="utf-8"))
    # the plugin sees what pytest prints
    printed = [line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line]
    assert printed == [r["name"] for r in rows]
    return rows


def view(tests) -> list[dict]:
    return [{"name": t.name, "file": t.module, "criterion": t.criterion,
             "params": {k: repr(v) for k, v in t.params.items()}} for t in tests]


def make_course(root: Path, files: dict[str, str] | None = None) -> Course:
    """A copy of the course (config, source notebook, hidden tests) at `root`, with `files`
    (path in autograder/<assignment>/ -> text) added or replaced."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "source" / "init_symmetry", root / "source" / "init_symmetry")
    shutil.copytree(REPO / "autograder", root / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for name, text in (files or {}).items():
        (root / "autograder" / ASSIGNMENT / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return Course.open(root, "init_symmetry")


# --------------------------------------------------------------------------- the real course

def test_the_course_is_collected_as_pytest_collects_it(tmp_path):
    tests = load_tests(COURSE)
    assert view(tests) == pytest_view(REPO, tmp_path, f"autograder/{ASSIGNMENT}")
    assert {t.criterion for t in tests} == set(COURSE.criteria)
    assert load_tests(COURSE) is tests                     # once per process


def test_the_course_tests_get_their_parameters_and_fixtures():
    by_name = {t.name: t for t in load_tests(COURSE)}
    he = by_name["test_he_variance[400-100]"]
    assert (he.module, he.criterion, he.params, he.fixtures) == \
        ("test_init.py", "he_variance", {"dims": [400, 100], "seed": 11}, ("student", "diagnosis"))
    forward = by_name["test_forward[default-activation]"]
    assert forward.params == {"dims": [2, 10, 5, 1], "m": 50, "activation": None, "seed": 203}
    assert forward.fixtures == ("student", "ref")
    seed = by_name["test_random_seed"]
    assert (seed.params, seed.fixtures, seed.func.__name__) == ({}, ("student",), "test_random_seed")
    # the functions are the hidden modules' own, imported under a package name of their own
    assert seed.func.__module__.startswith("_initkit_hidden_tests")
    assert Path(seed.func.__code__.co_filename) == REPO / "autograder" / ASSIGNMENT / "test_init.py"


# --------------------------------------------------------------------------- parametrization

TRICKY = '''
    """Parametrization as a course might write it."""

    import pytest

    pytestmark = pytest.mark.criterion("zeros")


    class Box:
        def __init__(self, n):
            self.n = n

        def __repr__(self):
            return f"Box({self.n})"


    @pytest.mark.parametrize("a", [1, 2], ids=["one", "two"])
    @pytest.mark.parametrize("b,d", [("x", None), pytest.param("y", 3.5, id="custom")], indirect=False)
    def test_stacked(student, a, b, d):
        pass


    @pytest.mark.criterion("constant")
    @pytest.mark.parametrize("value", [0.5, -1, "s p\\n", None, True, Box(3)],
                             ids=lambda v: f"v{v}" if isinstance(v, float) else None)
    def test_callable_ids(student, ref, value):
        pass


    @pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.criterion("random")),
                                   pytest.param(2, marks=pytest.mark.slow, id="two"), 3])
    def test_param_marks(n, student):
        pass


    @pytest.mark.parametrize("k", ["a", "b", "c"], ids=["same", "same", "other"])
    def test_duplicate_ids(student, k):
        pass


    def test_default_argument(student, tolerance=1e-9):
        return tolerance


    def pytest_generate_tests(metafunc):
        if "generated" in metafunc.fixturenames:
            metafunc.parametrize("generated", [10, 20])


    def test_generated(student, generated):
        pass


    @pytest.mark.criterion("update")
    def test_lazy_relative_import(student):
        from .. import _checks

        return _checks
'''


def test_tricky_parametrization_is_collected_as_pytest_collects_it(tmp_path):
    course = make_course(tmp_path / "course", {"test_tricky.py": TRICKY})
    tests = load_tests(course)
    assert view(tests) == pytest_view(course.root, tmp_path, f"autograder/{course.assignment}")

    tricky = {t.name: t for t in tests if t.module == "test_tricky.py"}
    assert list(tricky) == [
        "test_stacked[x-None-one]", "test_stacked[x-None-two]", "test_stacked[custom-one]",
        "test_stacked[custom-two]",
        "test_callable_ids[v0.5]", "test_callable_ids[-1]", "test_callable_ids[s p\\n]",
        "test_callable_ids[None]", "test_callable_ids[True]", "test_callable_ids[value5]",
        "test_param_marks[1]", "test_param_marks[two]", "test_param_marks[3]",
        "test_duplicate_ids[same0]", "test_duplicate_ids[same1]", "test_duplicate_ids[other]",
        "test_default_argument", "test_generated[10]", "test_generated[20]",
        "test_lazy_relative_import"]
    assert tricky["test_stacked[custom-two]"].params == {"a": 2, "b": "y", "d": 3.5}
    assert tricky["test_callable_ids[value5]"].fixtures == ("student", "ref")
    assert repr(tricky["test_callable_ids[value5]"].params["value"]) == "Box(3)"
    # the criterion pytest sees: the param's own mark, else the function's, else the module's
    assert {n: t.criterion for n, t in tricky.items() if n.startswith(("test_param", "test_call"))} == {
        "test_param_marks[1]": "random", "test_param_marks[two]": "zeros", "test_param_marks[3]": "zeros",
        **{n: "constant" for n in tricky if n.startswith("test_callable_ids")}}
    assert tricky["test_generated[20]"].params == {"generated": 20}
    # an argument with a default is not a fixture (pytest passes nothing; neither does the runner)
    default = tricky["test_default_argument"]
    assert (default.params, default.fixtures) == ({}, ("student",))
    assert runner.run_test(default, student=None, trusted={"ref": None}) == ("passed", "")
    # a relative import inside a test, run after collection, finds this course's module
    checks = tricky["test_lazy_relative_import"].func(student=None)
    assert Path(checks.__file__) == course.root / "autograder" / "_checks.py"   # shared, one level up
    assert checks.__name__.startswith("_initkit_hidden_tests")


# --------------------------------------------------------------------------- isolation

MARKED = {"test_which.py": '''
    import pytest

    from .. import _checks as c


    @pytest.mark.criterion("zeros")
    def test_which(student):
        from .. import _checks as lazy

        return c.WHICH, lazy.WHICH
'''}


def _with_marker(course: Course, which: str) -> None:
    checks = course.root / "autograder" / "_checks.py"
    checks.write_text(checks.read_text(encoding="utf-8") + f"\nWHICH = {which!r}\n", encoding="utf-8")


def test_two_courses_in_one_process_keep_their_own_modules(tmp_path, capfd):
    a = make_course(tmp_path / "a", MARKED)
    b = make_course(tmp_path / "b", {**MARKED, "test_only_b.py": '''
        import pytest


        @pytest.mark.criterion("cost")
        @pytest.mark.parametrize("m", [1, 2])
        def test_only_in_b(student, ref, m):
            pass
    '''})
    _with_marker(a, "a")
    _with_marker(b, "b")
    sys_path, meta_path = list(sys.path), list(sys.meta_path)
    before = {n: m for n, m in sys.modules.items() if n == "autograder" or n.startswith("autograder.")}
    capfd.readouterr()

    real = load_tests(COURSE)
    tests_a, tests_b = load_tests(a), load_tests(b)
    assert load_tests(a) is tests_a

    # nothing printed, nothing left behind
    assert capfd.readouterr() == ("", "")
    assert sys.path == sys_path and sys.meta_path == meta_path
    assert {n: m for n, m in sys.modules.items() if n == "autograder" or n.startswith("autograder.")} == before
    for course in (a, b):
        assert not list(course.root.rglob(".pytest_cache"))

    names_a, names_b = [t.name for t in tests_a], [t.name for t in tests_b]
    assert [n for n in names_b if n not in names_a] == ["test_only_in_b[1]", "test_only_in_b[2]"]
    assert names_a == [t.name for t in real] + ["test_which"]
    for course, tests, which in ((a, tests_a, "a"), (b, tests_b, "b")):
        t = next(t for t in tests if t.name == "test_which")
        assert t.func(student=None) == (which, which)
        for t in tests:
            assert Path(t.func.__code__.co_filename).parent == course.hidden_tests
    packages = {t.func.__module__.rpartition(".")[0] for t in real + tests_a + tests_b}
    assert len(packages) == 3


def test_collection_ignores_the_users_pytest_settings_and_the_current_folder(tmp_path, monkeypatch):
    course = make_course(tmp_path / "course")
    # settings pytest would pick up for the course folder, or from the environment
    (course.root / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n"
                                            "python_functions = check_*\n", encoding="utf-8")
    (course.root / "conftest.py").write_text("raise RuntimeError('a conftest.py above the hidden "
                                             "tests is not loaded')\n", encoding="utf-8")
    monkeypatch.setenv("PYTEST_ADDOPTS", "--no-such-option-either")
    monkeypatch.setenv("PYTEST_PLUGINS", "no_such_plugin_module")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    tests = load_tests(course)
    assert [t.name for t in tests] == [t.name for t in load_tests(COURSE)]
    assert os.environ["PYTEST_ADDOPTS"] == "--no-such-option-either"
    assert os.environ["PYTEST_PLUGINS"] == "no_such_plugin_module"
    assert "PYTEST_DISABLE_PLUGIN_AUTOLOAD" not in os.environ
    assert not list(elsewhere.iterdir())


def test_criteria_are_checked_per_course_and_cached(tmp_path):
    course = make_course(tmp_path / "course")
    fewer = Course(root=course.root, assignment=course.assignment,
                   source_notebook=course.source_notebook,
                   criteria={c: p for c, p in course.criteria.items() if c != "update"},
                   manual_points=course.manual_points)
    with pytest.raises(HiddenTestsError, match=r"test_update\[lr0\.1\]: criterion 'update' is not"):
        load_tests(fewer)
    assert len(load_tests(course)) == len(load_tests(COURSE))


# --------------------------------------------------------------------------- errors

ERRORS = {
    "class": ('''
        import pytest


        class TestGroup:
            @pytest.mark.criterion("zeros")
            def test_method(self, student):
                pass
    ''', r"test_extra\.py::test_method: a test method of class TestGroup"),
    "unknown fixture": ('''
        import pytest


        @pytest.mark.criterion("zeros")
        def test_uses_tmp_path(student, tmp_path):
            pass
    ''', r"test_extra\.py::test_uses_tmp_path asks for fixtures \['tmp_path'\]"),
    "no criterion": ('''
        def test_unmarked(student):
            pass
    ''', r"test_extra\.py::test_unmarked: no criterion mark"),
    "unknown criterion": ('''
        import pytest


        @pytest.mark.criterion("nonexistent")
        @pytest.mark.parametrize("x", [1])
        def test_other(student, x):
            pass
    ''', r"test_extra\.py::test_other\[1\]: criterion 'nonexistent' is not a grade_id"),
    "skip": ('''
        import pytest


        @pytest.mark.criterion("zeros")
        @pytest.mark.parametrize("x", [1, pytest.param(2, marks=pytest.mark.skip)])
        def test_skipping(student, x):
            pass
    ''', r"test_extra\.py::test_skipping\[2\]: the skip mark is not supported"),
    "indirect": ('''
        import pytest


        @pytest.mark.criterion("zeros")
        @pytest.mark.parametrize("student", [1], indirect=True)
        def test_indirect(student):
            pass
    ''', r"test_extra\.py::test_indirect\[1\]: indirect parametrization is not supported"),
    "import error": ('''
        from . import no_such_module
    ''', r"cannot be collected:\ntest_extra\.py:\n(.|\n)*no_such_module"),
    "duplicate name": ('''
        import pytest


        @pytest.mark.criterion("zeros")
        def test_random_seed(student):
            pass
    ''', r"test names used twice: test_random_seed \(test_extra\.py, test_init\.py\)"),
}


@pytest.mark.parametrize("source,message", ERRORS.values(), ids=ERRORS.keys())
def test_what_the_grader_cannot_run_is_a_clear_error(tmp_path, source, message):
    course = make_course(tmp_path / "course", {"test_extra.py": source})
    with pytest.raises(HiddenTestsError, match=message):
        load_tests(course)
    assert not list(course.root.rglob(".pytest_cache"))     # pytest's cache would record failures


def test_a_broken_conftest_is_a_clear_error(tmp_path):
    course = make_course(tmp_path / "course")
    (course.hidden_tests / "conftest.py").write_text("raise ValueError('broken on purpose')\n",
                                                     encoding="utf-8")
    with pytest.raises(HiddenTestsError, match=r"could not collect(.|\n)*broken on purpose"):
        load_tests(course)


def test_hidden_tests_without_init_are_an_error(tmp_path):
    course = make_course(tmp_path / "course")
    (course.hidden_tests / "__init__.py").unlink()
    with pytest.raises(HiddenTestsError, match="no __init__.py"):
        load_tests(course)


def test_collect_imports_no_private_pytest_module():
    tree = ast.parse(Path(collect.__file__).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    assert "pytest" in imported
    assert not [name for name in imported if name.split(".")[0] in ("_pytest", "pluggy")]
