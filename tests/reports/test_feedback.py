"""The feedback page: hostile text stays text, no grader paths, the layout's promises, golden files.

Regenerate the golden files on purpose with `pytest tests/reports/test_feedback.py --update-golden`
and review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from initkit.course import Course
from initkit.grading.result import error_result, make_result
from initkit.reports.feedback import feedback_html, feedback_path, strip_paths

GOLDEN = Path(__file__).parent / "golden"
HOSTILE = "<script>alert(1)</script>"
CRITERIA = {"zeros": 10.0, "he_variance": 30.0, "forward": 25.0, "cost": 15.0, "symmetry_check": 20.0}
TITLES = {"zeros": "Zero initialization", "he_variance": "He initialization: variance",
          "forward": "Forward propagation", "cost": "Cross-entropy cost",
          "symmetry_check": "Detecting a symmetric layer",
          "written_constant": "Question 1: every weight 0.5"}     # written_depth: none (the id shows)


def course(manual_points: float = 10.0, titles=TITLES) -> Course:
    # Made-up points, so a change to the real notebook's points does not move the golden files.
    root = Path("/srv/course")
    return Course(root=root, assignment="init_symmetry",
                  source_notebook=root / "source" / "init_symmetry" / "init_symmetry.ipynb",
                  criteria=CRITERIA, manual_points=manual_points, titles=dict(titles))


def check(criterion: str, n: int, outcome: str = "passed", message: str = "") -> dict:
    return {"name": f"test_{criterion}[{n}]", "criterion": criterion, "outcome": outcome,
            "score": 0.0, "max_score": 0.0, "message": message}


def graded(student: str, tests: list[dict], cell_errors=(), isolation: str = "bwrap",
           notes=()) -> dict:
    return make_result(student, f"/home/ta/course/submitted/{student}/init_symmetry/init_symmetry.ipynb",
                       CRITERIA, status="graded", tests=tests, cell_errors=list(cell_errors),
                       isolation=isolation, duration=1.5, error=None, notes=notes)


def passing(criteria=CRITERIA, n: int = 2) -> list[dict]:
    return [check(c, i) for c in criteria for i in range(n)]


CODE = [
    (3, "def initialize_zeros(layer_dims):\n    return {}\n"),
    (7, "def forward_propagation(X, parameters):\n    pass\n\ndef relu_backward(dA, Z):\n    pass\n"),
    (9, "x = 1 / fan_in  # scratch work\n"),
]

TIMEOUT = "is_layer_symmetric: not run: it already exceeded the 5 s time limit 2 times in this submission"
HE_FAIL = ("initialize_he: variance of W1 is 0.00248, expected 0.005 = 2/fan_in (fan_in=400, "
           "fan_out=100); 0.00248 is 1/fan_in (LeCun)")
FORWARD_FAIL = ("forward_propagation raised ValueError: shapes (4,3) and (2,5) not aligned\n"
                "Traceback (most recent call last):\n"
                '  File "<cell 7>", line 2, in forward_propagation\n'
                "ValueError: shapes (4,3) and (2,5) not aligned")

RESULTS = {
    "full_marks": (graded("alice", passing()), CODE),
    "partial": (graded("bob", [
        *passing(["zeros", "cost"]),
        check("he_variance", 0), check("he_variance", 1, "failed", HE_FAIL),
        check("forward", 0, "failed", FORWARD_FAIL), check("forward", 1),
        check("symmetry_check", 0), check("symmetry_check", 1),
        *(check("symmetry_check", i, "timeout", TIMEOUT) for i in range(2, 7)),
    ], cell_errors=[{"cell": 9, "kind": "error",
                     "message": "NameError: name 'fan_in' is not defined — in cell 10, line 1: "
                                "x = 1 / fan_in  # scratch work\n"
                                'Traceback (most recent call last):\n  File "<cell 9>", line 1, in '
                                "<module>\n    x = 1 / fan_in  # scratch work\n"
                                "NameError: name 'fan_in' is not defined"}],
        isolation="none", notes=["Graded init_symmetry (1).ipynb: it is the only notebook in your "
                                 "folder (the assignment's notebook is named init_symmetry.ipynb)."]),
        CODE),
    "broken_upload": (error_result(
        "carol", "/home/ta/course/submitted/carol/init_symmetry/init_symmetry.ipynb", CRITERIA,
        "/home/ta/course/submitted/carol/init_symmetry/init_symmetry.ipynb: not valid JSON (line 3, "
        "column 5: Unterminated string starting at); the notebook may be truncated or corrupted"), []),
    "hostile": (graded(HOSTILE, [
        *passing(["zeros", "he_variance", "forward", "symmetry_check"]),
        check("cost", 0, "failed", f"compute_cost printed {HOSTILE}"), check("cost", 1),
    ]), [(4, f"print('{HOSTILE}')\n"), (5, f"def f():\n    return '{HOSTILE}'\n")]),
}


def render(name: str, manual_points: float = 10.0) -> str:
    result, cells = RESULTS[name]
    return feedback_html(result, cells, course(manual_points))


def normalised(page: str) -> str:
    return "\n".join(line.rstrip() for line in page.splitlines()).strip() + "\n"


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_golden(name, request):
    golden = GOLDEN / f"{name}.html"
    page = normalised(render(name))
    if request.config.getoption("--update-golden"):
        golden.write_text(page, encoding="utf-8")
        return
    assert golden.is_file(), f"{golden} missing: run pytest with --update-golden"
    assert page == golden.read_text(encoding="utf-8"), \
        f"{name}: the page changed; if on purpose, rerun with --update-golden and review the diff"


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_self_contained_and_no_grader_paths(name):
    page = render(name)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for external in ("<link", "<script", "src=", "http", "@import", "url("):
        assert external not in page, external
    assert "/home/ta" not in page and "/srv/course" not in page


def test_hostile_text_arrives_as_text():
    page = render("hostile")
    assert "<script>" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"Feedback for <b>{escaped}</b>" in page                       # student name
    assert f"<title>init_symmetry: feedback for {escaped}</title>" in page
    assert f"compute_cost printed {escaped}" in page                      # a test's message
    assert f"print(&#39;{escaped}&#39;)" in page                          # a code cell


def test_hostile_error_and_cell_error():
    result = error_result("x", "x.ipynb", CRITERIA, f"bad {HOSTILE}")
    assert "<script>" not in feedback_html(result, [], course())
    result = graded("x", passing(), cell_errors=[{"cell": 1, "kind": "error", "message": HOSTILE}])
    page = feedback_html(result, [(1, HOSTILE)], course())
    assert "<script>" not in page and page.count("&lt;script&gt;") == 2   # message, source


def test_header():
    assert ("Auto-graded part <span class=\"score\">100 / 100</span><span class=\"manual\">; "
            "written answers (10 points) graded by hand</span>") in render("full_marks")
    page = render("partial", manual_points=0)
    assert "Auto-graded part <span class=\"score\">58.214 / 100</span></p>" in page
    assert "written answers" not in page


def test_identical_messages_once_with_a_count():
    page = render("partial")
    assert page.count(TIMEOUT) == 1
    assert f"timeout (×5):</span> {TIMEOUT}" in page
    assert "2 of 7 checks passed" in page
    assert f"failed:</span> {HE_FAIL}" in page                    # "1/fan_in" kept as is


def test_cells_labelled_by_their_functions():
    page = render("partial")
    assert "<h3>initialize_zeros <span class=\"mute\">(cell 4)</span></h3>" in page
    assert "<h3>forward_propagation, relu_backward <span class=\"mute\">(cell 8)</span></h3>" in page
    assert "<h3>your cell 10</h3>" in page                        # defines no function
    assert "counting every cell of the notebook" in page
    # the failed cell: labelled the same way; the traceback's cell number is 1-based too
    assert "<h3>your cell 10 <span class=\"outcome o-error\">error</span></h3>" in page
    assert 'File &#34;&lt;cell 10&gt;&#34;, line 1' in page
    assert 'File &#34;&lt;cell 8&gt;&#34;, line 2, in forward_propagation' in page


def test_broken_upload_reason_whole():
    page = render("broken_upload")
    assert "could not be graded" in page
    assert ("<pre>init_symmetry.ipynb: not valid JSON (line 3, column 5: Unterminated string "
            "starting at); the notebook may be truncated or corrupted</pre>") in page
    long_reason = "x.ipynb: " + "very long reason " * 300
    page = feedback_html(error_result("d", "x.ipynb", CRITERIA, long_reason), [], course())
    assert long_reason.strip() in page
    assert "Every hidden test passed" not in page


def test_isolation_note_only_when_graded_without_sandbox():
    assert "Graded without sandbox isolation." in render("partial")
    assert "Graded without sandbox isolation." not in render("full_marks")
    assert "Graded without sandbox isolation." not in render("broken_upload")   # isolation "none"


def test_no_tests_is_not_all_passed():
    assert "Every hidden test passed" not in feedback_html(graded("x", []), [], course())


def test_tests_of_an_unknown_criterion_are_shown():
    result = graded("x", [*passing(), check("renamed", 0, "failed", "lost check")])
    assert "lost check" in feedback_html(result, [], course())


@pytest.mark.parametrize("text, expected", [
    ("/home/ta/course/submitted/alice/init_symmetry/init_symmetry.ipynb: not valid JSON (line 3)",
     "init_symmetry.ipynb: not valid JSON (line 3)"),
    ('File "/usr/lib/python3.11/site-packages/numpy/core/fromnumeric.py", line 59, in _wrapfunc',
     'File "fromnumeric.py", line 59, in _wrapfunc'),
    ("cache at ~/.cache/initkit/ab12.json.", "cache at ab12.json."),
    (r"C:\Users\ta\course\x.ipynb: empty", "x.ipynb: empty"),
    ("(see /tmp/run-1/out.log)", "(see out.log)"),
    ("folder /srv/course/submitted/ is empty", "folder submitted/ is empty"),
    # ordinary text is left alone
    ("expected 0.005 = 2/fan_in; 0.00248 is 1/fan_in", "expected 0.005 = 2/fan_in; 0.00248 is 1/fan_in"),
    ("2/(fan_in+fan_out) and a/b and ./x/y.py", "2/(fan_in+fan_out) and a/b and ./x/y.py"),
    ("see https://nbgrader.readthedocs.io/en/stable/", "see https://nbgrader.readthedocs.io/en/stable/"),
    ("divide by m /2", "divide by m /2"),
    ("", ""),
])
def test_strip_paths(text, expected):
    assert strip_paths(text) == expected


def test_feedback_path_unchanged(tmp_path):
    result = {"student": "alice", "notebook": "/x/submitted/alice/init_symmetry/mine.ipynb"}
    assert feedback_path(tmp_path, result, "init_symmetry") == \
        tmp_path / "feedback" / "alice" / "init_symmetry" / "mine.html"


def test_manual_grades_and_comments_join_the_page():
    result, code = RESULTS["partial"]
    manual = {"answers": [{"name": "written_constant", "score": 4.0, "max_score": 5.0,
                           "comment": "Good, but <b>why</b> ln 2?"},
                          {"name": "written_depth", "score": None, "max_score": 5.0, "comment": ""}],
              "late_penalty": 1.0, "total": 61.214, "max_total": 110.0}
    page = feedback_html(result, code, course(), manual)
    assert "Total <span class=\"score\">61.214 / 110</span>" in page
    assert "late penalty −1" in page and "some written answers are not graded yet" in page
    assert "Good, but &lt;b&gt;why&lt;/b&gt; ln 2?" in page
    assert "written_depth</h3><span class=\"pts\">not graded yet / 5</span>" in page   # no title
    assert "Question 1: every weight 0.5</h3><span class=\"pts\">4 / 5</span>" in page
    assert '<span class="id">written_constant</span>' in page          # the id, in small print
    assert "(auto-graded part 58.214 / 100" in page


_HEADING = re.compile(r'<div class="crit-head"><h3>(.*?)</h3>')


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_criterion_headings_are_titles_not_ids(name):
    """A student reads "He initialization: variance", never he_variance, as a criterion's label;
    the id stays in small print below."""
    page = render(name)
    headings = _HEADING.findall(page)
    assert headings == [TITLES[c] for c in CRITERIA]
    for heading in headings:     # "cost" may be a word of a title; no id is a heading
        assert heading not in CRITERIA and not any(c in heading for c in CRITERIA if "_" in c)
    for c in CRITERIA:
        assert f'<span class="id">{c}</span>' in page


def test_without_titles_the_ids_are_the_labels():
    result, code = RESULTS["partial"]
    page = feedback_html(result, code, course(titles={}))
    assert _HEADING.findall(page) == list(CRITERIA)
    assert '<span class="id">' not in page


BAD_FORWARD = """

W = np.zeros((3, 4))
A_prev = np.zeros((5, 1))
b = np.zeros((3, 1))
Z = W @ A_prev + b
"""


def test_a_failed_cell_reads_as_its_error_everywhere(tmp_path):
    """A cell that raises when the notebook is run: the page, Gradescope's output, the autograded
    notebook and the terminal first say the error and the student's line that raised it, then
    (where there is room) the traceback of student frames; the score is not touched."""
    import html

    import nbformat

    from fakes import ASSIGNMENT, REPO
    from initkit.gradescope.results import gradescope_results
    from initkit.grading.grade import grade_notebook
    from initkit.reports.autograded import annotate, release_cells, restore_cells
    from initkit.reports.summary import format_result
    from initkit.sandbox.inprocess import InProcessStudent
    from initkit.solutions import make_submission, solution_functions

    real = Course.open(REPO, ASSIGNMENT)
    forward = solution_functions(real)["forward_propagation"].rstrip("\n") + BAD_FORWARD
    nb = make_submission(real, {"forward_propagation": forward})
    (index,) = [i for i, c in enumerate(nb.cells) if "A_prev = np.zeros((5, 1))" in c.source]
    line = nb.cells[index].source.splitlines().index("Z = W @ A_prev + b") + 1
    path = tmp_path / "init_symmetry.ipynb"
    nbformat.write(nb, str(path))
    result = grade_notebook(path, real, student_factory=InProcessStudent, student="dana")

    assert all(c["score"] == c["max_score"] for c in result["criteria"].values())
    (ce,) = result["cell_errors"]
    assert (ce["cell"], ce["kind"]) == (index, "error")
    headline = ce["message"].partition("\n")[0]
    assert headline.startswith("ValueError: matmul: Input operand 1 has a mismatch")
    assert headline.endswith(f" — in cell {index + 1}, line {line}: Z = W @ A_prev + b")
    assert "/" not in headline.partition(" — ")[2]

    page = html.unescape(feedback_html(result, result["student_code"], real))
    section = page[page.index("Cells that failed when your notebook was run"):]
    assert f"<pre>{headline}</pre>" in section
    assert section.index(headline) < section.index("<details><summary>Traceback</summary><pre>"
                                                   "Traceback (most recent call last):")
    assert f'File "<cell {index + 1}>", line {line}, in <module>\n    Z = W @ A_prev + b' in section
    assert "initkit" not in section.partition("</section>")[0] and ".py" not in section

    output = gradescope_results(result, real)["output"]
    assert f"- forward_propagation (cell {index + 1}): error: {headline}\n" in output
    assert output.index(headline) < output.index("Parts:") < output.index(
        f"Traceback of forward_propagation (cell {index + 1}):")
    assert f'    File "<cell {index + 1}>", line {line}, in <module>' in output

    nb = nbformat.read(str(path), as_version=4)
    restore_cells(nb, real.layout, release_cells(nbformat.read(str(real.release_notebook), 4)))
    annotate(nb, result, real)
    (out,) = nb.cells[index].outputs
    assert out.output_type == "stream" and out.name == "stderr"
    assert out.text.splitlines()[0] == headline
    assert "Traceback (most recent call last):" in out.text
    assert f"cell {index + 1} error: {headline}" in format_result(result)


def test_the_notebook_title_heads_the_page_and_the_real_course_has_one():
    """The page's heading is the notebook's own title (its first "# " heading), not the
    assignment's folder name; each of the course's assignments has one."""
    from dataclasses import replace

    from fakes import REPO
    from initkit.course import assignments

    result, cells = RESULTS["partial"]
    page = feedback_html(result, cells, replace(course(), heading="Weight initialization"))
    assert "<h1>Weight initialization</h1>" in page and "<h1>init_symmetry</h1>" not in page
    for assignment in assignments(REPO):
        real = Course.open(REPO, assignment)
        assert real.heading and real.heading != assignment, assignment
