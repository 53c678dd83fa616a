"""The `initkit` command line, the shipped examples, and end-to-end batches with the real autograder."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, CRITERIA, REPO, add, copy_real_course, fake_submission, make_course
from initkit import api, cli
from initkit.course import Course, CourseError, assignments
from initkit.reports.tables import num



def test_grade_prints_summary(tmp_path, fake_batch, capsys):
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    add(course, "b", fake_submission(fail=["forward"]))
    add(course, "c", "")
    code = cli.main(["grade", str(course), "--out", str(tmp_path / "out"), "--workers", "1",
                     "--quiet", "--no-gradebook"])
    out = capsys.readouterr().out
    assert code == cli.EXIT_WITH_ERRORS == 3      # everyone has a row; one of them is an error
    assert "graded 2   errors 1   timeouts 0" in out
    assert "mean 95.0   median 95.0" in out
    assert "most often failed: forward (1)" in out
    assert str(tmp_path / "out" / "grades.csv") in out
    assert (tmp_path / "out" / "feedback" / "b" / ASSIGNMENT / "init_symmetry.html").is_file()


def test_a_page_that_cannot_be_written_is_an_error_row_and_exit_3(tmp_path, fake_batch, capsys,
                                                                   monkeypatch):
    """Everyone graded, but one student's feedback page fails (a full disk, say): the reports
    mark their row an error in the tables, so the table, grades.csv and the exit status say so."""
    from initkit.reports import writer

    real = writer.feedback_html

    def page(result, cells, course_):
        if result["student"] == "b" and result["status"] == "graded":
            raise OSError("No space left on device")
        return real(result, cells, course_)

    monkeypatch.setattr(writer, "feedback_html", page)
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    add(course, "b", fake_submission())
    code = cli.main(["grade", str(course), "--out", str(tmp_path / "out"), "--workers", "1",
                     "--quiet", "--no-gradebook"])
    out = capsys.readouterr().out
    why = "could not write the feedback page: OSError: No space left on device"
    assert code == cli.EXIT_WITH_ERRORS
    assert "graded 1   errors 1   timeouts 0" in out
    table = out.split("\n\n")[1].splitlines()
    assert table[2].split(None, 3) == ["b", "0", "error", why]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["b"]["status"] == "error" and rows["b"]["error"] == why
    assert rows["a"]["status"] == "graded" and rows["a"]["error"] == ""


def test_all_graded_exits_0(tmp_path, fake_batch, capsys):
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    assert cli.main(["grade", str(course), "--out", str(tmp_path / "out"), "--quiet",
                     "--no-gradebook"]) == 0


def test_errors_are_one_line_and_nonzero(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing" in err and err.startswith("initkit grade: error:")
    assert cli.main(["grade-one", str(tmp_path / "nope.ipynb"), "--course", str(REPO)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.ipynb: no such file" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["grade", "--workers", "0"])
    assert exc.value.code == 2


def _load_make_examples():
    spec = importlib.util.spec_from_file_location("make_examples", REPO / "examples" / ASSIGNMENT / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_examples_are_what_the_script_makes():
    make_examples = _load_make_examples()
    assert make_examples.stale(make_examples.build()) == [], \
        f"examples/{ASSIGNMENT}/submitted is stale: run python examples/{ASSIGNMENT}/make_examples.py"


# --------------------------------------------------------------------------- real autograder


def test_demo_end_to_end(tmp_path, capsys):
    """`initkit demo` grades the shipped examples with the real sandboxed autograder."""
    out = tmp_path / "demo"
    assert cli.main(["demo", str(REPO), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Feedback for each student" in text
    # Without --assignment: every assignment's examples, each in a folder of its own, with the
    # spread of scores its examples are made for.
    for assignment in assignments(REPO):
        rows = json.loads((out / assignment / "grades.json").read_text())["submissions"]
        top = Course.open(REPO, assignment).max_score
        for r in rows:
            if r["student"].startswith("correct"):
                assert r["score"] == top, (assignment, r["student"])
            elif r["student"] == "broken_upload":
                assert r["status"] == "error", assignment
            else:
                assert r["status"] == "graded" and 0 < r["score"] < top, (assignment, r["student"])
    rows = {r["student"]: r for r in json.loads((out / ASSIGNMENT / "grades.json").read_text())["submissions"]}
    lost = {s: {n for n, c in r["criteria"].items() if c["score"] < c["max_score"]}
            for s, r in rows.items()}
    full = Course.open(REPO, ASSIGNMENT).max_score
    assert rows["correct"]["score"] == full and rows["correct_written_differently"]["score"] == full
    assert rows["broken_upload"]["status"] == "error"
    assert "he_variance" in lost["he_uses_1_over_fan_in"]
    assert "cost" in lost["cost_missing_1_over_m"]
    assert {"random", "xavier_variance", "he_variance"} <= lost["zero_init_only"]
    assert "symmetry_breaking" in lost["tiled_random_rows"]
    assert lost["symmetry_check_ignores_bias"] == {"symmetry_check"}
    assert lost["infinite_loop"] == {"symmetry_check"}
    assert "backward_gradients" in lost["untouched_stub"]
    for student, r in rows.items():
        if student not in ("correct", "correct_written_differently", "broken_upload"):
            assert r["status"] == "graded" and 0 < r["score"] < full, student
    # the feedback never shows hidden-test code
    hidden = [line.strip() for f in sorted((REPO / "autograder").rglob("*.py"))
              for line in f.read_text().splitlines() if len(line.strip()) > 20]
    assert hidden
    for page in (out / "feedback").rglob("*.html"):
        text = page.read_text()
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page} shows hidden test code: {leaked[:3]}"


def _bad_inputs(course: Path, correct: bytes) -> dict[str, str]:
    """Every bad-input case of the batch issue; returns student -> a word the reason must contain."""
    import nbformat

    add(course, "ok", correct)
    add(course, "invalid_json", b'{"cells": [')
    add(course, "empty", b"")
    add(course, "truncated", correct[: len(correct) // 3])
    v3 = nbformat.v3.new_notebook()
    add(course, "nbformat3", nbformat.v3.writes_json(v3))
    (course / "submitted" / "no_notebook" / ASSIGNMENT).mkdir(parents=True)
    add(course, "two_notebooks", correct, "a.ipynb")
    add(course, "two_notebooks", correct, "b.ipynb")
    add(course, "huge", b'{"cells": [], "x": "' + b"a" * (21 << 20) + b'"}')
    add(course, "not_utf8", correct.replace(b"initialize", b"initialize\xff", 1))
    return {"invalid_json": "json", "empty": "empty", "truncated": "json", "nbformat3": "nbformat",
            "no_notebook": "no notebook", "two_notebooks": "2 notebooks", "huge": "large",
            "not_utf8": "utf"}


def test_bad_inputs_with_real_autograder(tmp_path):
    import nbformat

    from initkit.solutions import make_submission

    course = copy_real_course(tmp_path / "course")
    correct = nbformat.writes(make_submission(Course.open(course), {})).encode()
    expected = _bad_inputs(course, correct)
    summary = api.grade(Course.open(course), tmp_path / "out", workers=2, progress=False,
                        gradebook=False)
    rows = {r["student"]: r for r in summary.results}
    assert rows["ok"]["status"] == "graded" and rows["ok"]["score"] == Course.open(course).max_score
    for student, word in expected.items():
        r = rows[student]
        assert r["status"] == "error" and r["score"] == 0, student
        assert word.lower() in r["error"].lower(), (student, r["error"])
        assert all(c["score"] == 0 for c in r["criteria"].values())


def test_real_worker_counts_agree(tmp_path):
    make_examples = _load_make_examples()
    course = copy_real_course(tmp_path / "course")
    for rel, data in make_examples.build().items():
        if rel.split("/")[0] in ("correct", "he_uses_1_over_fan_in", "tiled_random_rows"):
            path = course / "submitted" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    one = api.grade(Course.open(course), tmp_path / "o1", workers=1, progress=False, gradebook=False)
    two = api.grade(Course.open(course), tmp_path / "o2", workers=2, progress=False, gradebook=False)
    key = lambda s: [(r["student"], r["score"], r["criteria"]) for r in s.results]  # noqa: E731
    assert key(one) == key(two)
    assert [r["student"] for r in one.results] == ["correct", "he_uses_1_over_fan_in", "tiled_random_rows"]
    assert set(CRITERIA) == set(one.results[0]["criteria"])


# --------------------------------------------------------------------------- the course given


def _no_autograded_cells(course: Path) -> None:
    import nbformat

    src = course / "source" / ASSIGNMENT / "init_symmetry.ipynb"
    nb = nbformat.read(str(src), as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    nbformat.write(nb, str(src))


@pytest.mark.parametrize("breakage, words", [
    (lambda c: (c / "nbgrader_config.py").unlink(), ["not an nbgrader course directory"]),
    (lambda c: __import__("shutil").rmtree(c / "autograder"), ["autograder", "no hidden tests"]),
    (lambda c: __import__("shutil").rmtree(c / "source" / ASSIGNMENT), ["source", "no assignments"]),
    (_no_autograded_cells, ["init_symmetry.ipynb", "no autograded test cells"]),
])
def test_course_errors_exit_2_with_one_line(tmp_path, capsys, breakage, words):
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    breakage(course)
    code = cli.main(["grade", str(course), "--out", str(tmp_path / "out"), "--quiet", "--no-gradebook"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""                      # never a table of zeros
    assert err.count("\n") == 1 and err.startswith("initkit grade: error:"), err
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()


def test_unknown_assignment_names_what_there_is(tmp_path, capsys):
    course = make_course(tmp_path / "course")
    assert cli.main(["grade", str(course), "--assignment", "hw9", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "hw9: no such assignment" in err and "init_symmetry" in err


def test_course_defaults_to_the_current_folder(tmp_path, monkeypatch, fake_batch, capsys):
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    monkeypatch.chdir(course)
    assert cli.main(["grade", "--quiet", "--no-gradebook"]) == 0
    assert (course / "grading-output" / ASSIGNMENT / "grades.csv").is_file()   # its own folder
    monkeypatch.chdir(tmp_path)
    assert cli.main(["grade", "--quiet", "--no-gradebook"]) == 2
    assert "not an nbgrader course directory" in capsys.readouterr().err


def test_regrade_some_students(tmp_path, monkeypatch, fake_batch, capsys):
    from fakes import calls

    monkeypatch.setenv("INITKIT_FAKE_LOG", str(tmp_path / "calls.log"))
    course = make_course(tmp_path / "course")
    for s in ("ann", "bob", "cat"):
        add(course, s, fake_submission(note=s))
    out = tmp_path / "out"
    common = [str(course), "--out", str(out), "--quiet", "--workers", "1"]
    assert cli.main(["grade", *common]) == 0
    ann_page = out / "feedback" / "ann" / ASSIGNMENT / "init_symmetry.html"
    before = ann_page.stat().st_mtime_ns
    add(course, "bob", fake_submission(fail=["cost"], note="bob fixed"))   # as if a test changed
    add(course, "cat", fake_submission(fail=["update"], note="cat again"))
    Path(tmp_path / "calls.log").unlink()
    capsys.readouterr()
    assert cli.main(["grade", *common, "--student", "bob"]) == 0
    out_text = capsys.readouterr().out
    assert calls(course) == ["bob"]                          # only bob was graded again
    full, lost = sum(CRITERIA.values()), CRITERIA["cost"]      # the course's points
    assert f"regraded 1: bob {num(full)} -> {num(full - lost)} (-{num(lost)})" in out_text
    rows = {r["student"]: r["score"] for r in csv.DictReader((out / "grades.csv").open())}
    assert rows == {"ann": num(full), "bob": num(full - lost), "cat": num(full)}  # cat: last run's row
    assert ann_page.stat().st_mtime_ns == before               # nobody else's outputs rewritten
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="initkit-test") as gb:
        assert gb.find_submission(ASSIGNMENT, "bob").score == full - lost
        assert gb.find_submission(ASSIGNMENT, "cat").score == full
    assert cli.main(["grade", *common, "--student", "nobody"]) == 2
    assert "no submission of init_symmetry for nobody" in capsys.readouterr().err


# --------------------------------------------------------------------------- a thin command line

_EXAMPLE = REPO / "examples" / ASSIGNMENT / "submitted" / "correct" / ASSIGNMENT / "init_symmetry.ipynb"


@pytest.mark.parametrize("argv, function, expected", [
    (["grade", str(REPO), "--assignment", ASSIGNMENT, "--workers", "2", "--no-gradebook", "--quiet"], "grade",
     {"workers": 2, "gradebook": False, "progress": False, "isolation": "bubblewrap"}),
    (["demo", str(REPO), "--out", "d", "--timeout", "9"], "demo",
     {"timeout": 9.0, "progress": True, "isolation": "auto"}),
    (["grade-one", str(_EXAMPLE), "--course", str(REPO), "--timeout", "5"], "grade_one",
     {"timeout": 5.0, "isolation": "bubblewrap"}),
    (["feedback", str(REPO), "--assignment", ASSIGNMENT, "--out", "o", "--db", "sqlite:///g.db", "--wait"], "feedback",
     {"gradebook": "sqlite:///g.db", "wait": True}),
    (["release", str(REPO), "--assignment", ASSIGNMENT], "release", {}),
    (["collect", "canvas", "s.zip", str(REPO), "--assignment", ASSIGNMENT, "--force"], "collect_canvas",
     {"force": True, "wait": False}),
    (["export", "canvas", str(REPO), "--assignment", ASSIGNMENT, "--roster", "r.csv", "-o", "o.csv", "--match-column", "ID",
      "--column", "C", "--db", "sqlite:///g.db"], "export_canvas",
     {"match_column": "ID", "column": "C", "gradebook": "sqlite:///g.db"}),
    (["gradescope", str(REPO), "--assignment", ASSIGNMENT, "-o", "a.zip", "--visibility", "hidden", "--late-policy", "10/day",
      "--isolation", "none", "--python", "3.12"], "build_gradescope",
     {"visibility": "hidden", "late_policy": "10/day", "timeout": None, "isolation": "none",
      "python": "3.12"}),
    (["audit", str(REPO), "--assignment", ASSIGNMENT, "--json", "a.json", "--min-score", "0.9", "--workers", "1", "--quiet"],
     "audit", {"json_path": "a.json", "html_path": None, "min_score": 0.9, "workers": 1,
               "progress": False, "wait": False}),
])
def test_each_command_is_one_call_into_the_api(argv, function, expected, monkeypatch, capsys):
    """cli.py parses the arguments and makes one call into initkit.api, the same functions a
    notebook or a script calls, with the options as keywords."""
    seen = []

    def call(course, *args, **kwargs):
        seen.append((course, kwargs))
        raise CourseError("stopped by the test")

    monkeypatch.setattr(api, function, call)
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip().endswith("error: stopped by the test")
    [(course, kwargs)] = seen
    assert course.root == REPO and course.assignment == ASSIGNMENT
    assert {name: kwargs[name] for name in expected} == expected


def test_what_the_library_logs_is_shown_on_stderr_unless_quiet(tmp_path, fake_batch, capsys):
    """The batch logs (logging, INFO) how many submissions there are and what it will do; the
    command line shows it on stderr as a plain line, --quiet leaves it out, and the library on
    its own prints nothing."""
    course = make_course(tmp_path / "course")
    add(course, "a", fake_submission())
    add(course, "b", fake_submission())
    common = ["grade", str(course), "--workers", "1", "--no-gradebook", "--force"]
    assert cli.main([*common, "--out", str(tmp_path / "o1")]) == 0
    err = capsys.readouterr().err
    assert (f"2 submissions of {ASSIGNMENT} in {course / 'submitted'}: 0 unchanged (cached), "
            "2 to grade with 1 worker(s)\n") in err
    assert cli.main([*common, "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    api.grade(Course.open(course), tmp_path / "o3", workers=1, progress=False, gradebook=False)
    assert capsys.readouterr().err == ""


def test_demo_skips_an_assignment_without_examples_and_says_so(tmp_path, capsys):
    root = copy_real_course(tmp_path / "course")
    for folder in ("source/signals_depth", "release/signals_depth"):
        shutil.copytree(REPO / folder, root / folder)
    for student in ("correct", "broken_upload"):
        shutil.copytree(REPO / "examples" / ASSIGNMENT / "submitted" / student,
                        root / "examples" / ASSIGNMENT / "submitted" / student)
    assert cli.main(["demo", str(root), "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "signals_depth has no example submissions" in captured.err
    assert (tmp_path / "demo" / ASSIGNMENT / "grades.json").is_file()
    assert not (tmp_path / "demo" / "signals_depth").exists()
