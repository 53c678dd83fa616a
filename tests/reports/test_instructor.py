"""The instructor's report: the numbers in the page, the plots (valid, deterministic PNGs),
hostile text stays text, odd data never raises."""

from __future__ import annotations

import html
import math
import subprocess
import sys
from pathlib import Path

import pytest

from initkit.course import Course
from initkit.grading.batch import BatchSummary
from initkit.grading.result import error_result, make_result
from initkit.reports.instructor import class_rows, write_instructor_report

HOSTILE = "<script>alert(1)</script>"
CRITERIA = {"zeros": 10.0, "he_variance": 30.0, "forward": 25.0, "cost": 15.0, "symmetry_check": 20.0}
PNG = b"\x89PNG\r\n\x1a\n"
HE_FAIL = "initialize_he: variance of W1 is 0.00248, expected 0.005 = 2/fan_in (LeCun)"
FORWARD_FAIL = ("forward_propagation raised ValueError: shapes (4,3) and (2,5) not aligned\n"
                "Traceback (most recent call last):\n  File \"<cell 7>\", line 2")


def course(criteria=CRITERIA, manual_points: float = 10.0) -> Course:
    root = Path("/srv/course")
    return Course(root=root, assignment="init_symmetry",
                  source_notebook=root / "source" / "init_symmetry" / "init_symmetry.ipynb",
                  criteria=dict(criteria), manual_points=manual_points)


def check(criterion: str, n: int, outcome: str = "passed", message: str = "") -> dict:
    return {"name": f"test_{criterion}[{n}]", "criterion": criterion, "outcome": outcome,
            "score": 0.0, "max_score": 0.0, "message": message}


def passing(criteria=CRITERIA, n: int = 2) -> list[dict]:
    return [check(c, i) for c in criteria for i in range(n)]


def graded(student: str, tests: list[dict], cell_errors=(), criteria=CRITERIA) -> dict:
    return make_result(student, f"{student}.ipynb", criteria, status="graded", tests=tests,
                       cell_errors=list(cell_errors), isolation="bwrap", duration=1.0, error=None)


def broken(student: str, reason: str = "x.ipynb: not valid JSON", criteria=CRITERIA) -> dict:
    return error_result(student, "x.ipynb", criteria, reason)


def others(*failing: str) -> list[dict]:
    return [t for t in passing() if t["criterion"] not in failing]


def klass() -> list[dict]:
    """alice 100; bob loses he_variance (HE_FAIL twice) and half of forward; carol cannot be
    graded; dan times out on symmetry_check; eve loses he_variance (HE_FAIL once, another once)."""
    return [
        graded("alice", passing()),
        graded("bob", [*others("he_variance", "forward"), check("he_variance", 0, "failed", HE_FAIL),
                       check("he_variance", 1, "failed", HE_FAIL), check("forward", 0),
                       check("forward", 1, "error", FORWARD_FAIL)]),
        broken("carol", "/home/ta/submitted/carol/x.ipynb: not valid JSON (line 3)"),
        graded("dan", [*others("symmetry_check"), check("symmetry_check", 0),
                       check("symmetry_check", 1, "timeout", "took longer than 5 s"),
                       check("symmetry_check", 2, "timeout", "took longer than 5 s")],
               cell_errors=[{"cell": 3, "kind": "timeout", "message": "cell timed out"}]),
        graded("eve", [*others("he_variance"), check("he_variance", 0, "failed", HE_FAIL),
                       check("he_variance", 1, "failed", "something else\nwith a second line")]),
    ]


def report(tmp_path, results, previous=None, crs=None) -> str:
    crs = crs or course()
    path = write_instructor_report(crs, tmp_path, class_rows(results, crs.criteria), previous)
    assert path == tmp_path / "report.html"
    return path.read_text(encoding="utf-8")


def row(*cells: str) -> str:
    name, *rest = cells
    return f'<tr><th scope="row">{name}</th>' + "".join(f'<td class="r">{c}</td>' for c in rest) + "</tr>"


def test_headline_numbers(tmp_path):
    page = report(tmp_path, klass())
    for label, value in [("submissions", 5), ("graded", 4), ("errors", 1), ("timeouts", 1)]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in page
    # alice 100, bob 100-30-12.5 = 57.5, dan 100-20*2/3 = 86.667, eve 100-30 = 70
    assert "<dt>mean (of 100)</dt><dd>78.5</dd>" in page
    assert "<dt>median (of 100)</dt><dd>78.3</dd>" in page
    assert "of <b>100</b> points" in page and "(1 with full marks)" in page
    assert "The written answers (10 points) are graded by hand" in page
    assert "written answers" not in report(tmp_path, klass(), crs=course(manual_points=0))


def test_histogram_table(tmp_path):
    page = report(tmp_path, klass())
    assert "<tr><td>50–60</td><td class=\"r\">1</td></tr>" in page      # bob 57.5
    assert "<tr><td>70–80</td><td class=\"r\">1</td></tr>" in page      # eve 70 (a boundary)
    assert "<tr><td>80–90</td><td class=\"r\">1</td></tr>" in page      # dan
    assert "<tr><td>90–100</td><td class=\"r\">1</td></tr>" in page     # alice: full marks, last bin
    assert "<tr><td>0–10</td><td class=\"r\">0</td></tr>" in page       # carol's error is not in it


def test_pass_rates_in_course_order(tmp_path):
    page = report(tmp_path, klass())
    assert row("zeros", "10", "4 / 4", "100%") in page
    assert row("he_variance", "30", "2 / 4", "50%") in page
    assert row("forward", "25", "3 / 4", "75%") in page
    assert row("symmetry_check", "20", "3 / 4", "75%") in page
    positions = [page.index(f'<tr><th scope="row">{name}</th>') for name in CRITERIA]
    assert positions == sorted(positions)


def test_most_common_failure(tmp_path):
    page = report(tmp_path, klass())
    he = page[page.index("<h3>he_variance"):]
    he = he[: he.index("</section>")]
    assert f'<p class="msg">{html.escape(HE_FAIL)}</p>' in he
    assert "2 students (of 2 who lost points here), 3 failed tests; 1 other message</p>" in he
    fwd = page[page.index("<h3>forward"):]
    fwd = fwd[: fwd.index("</section>")]
    # the first line only: the traceback is not shown
    assert "forward_propagation raised ValueError: shapes (4,3) and (2,5) not aligned</p>" in fwd
    assert "Traceback" not in page
    assert "1 student (of 1 who lost points here), 1 failed test</p>" in fwd
    assert "took longer than 5 s" in page
    assert "on zeros, cost.</p>" in page


def test_long_messages_cut_at_their_first_line(tmp_path):
    long = "x" * 500 + "\nsecond line"
    page = report(tmp_path, [graded("a", [*others("cost"), check("cost", 0, "failed", long),
                                         check("cost", 1, "failed", "")])])
    assert "x" * 199 + "…" in page and "x" * 200 not in page and "second line" not in page
    assert "1 other message" in page                    # the empty message, once


def test_errors_and_timeouts(tmp_path):
    page = report(tmp_path, klass())
    assert ('<tr><th scope="row">carol</th><td class="msg">/home/ta/submitted/carol/x.ipynb: '
            "not valid JSON (line 3)</td></tr>") in page
    assert ('<tr><th scope="row">dan</th><td class="r">86.667</td><td class="msg">'
            "symmetry_check (2 tests), cell 4</td></tr>") in page
    assert "<h2 id=\"errors\">Errors (1)</h2>" in page and "<h2 id=\"timeouts\">Timeouts (1)</h2>" in page


def test_a_killed_submission_is_an_error_and_a_timeout(tmp_path):
    """Counted like the terminal summary (BatchSummary.timeouts, result.timed_out)."""
    results = [*klass(), broken("zed", "zed/x.ipynb: grading timed out after 45 s (worker killed)")]
    page = report(tmp_path, results)
    summary = BatchSummary(course=course(), results=results, out_dir=tmp_path)
    assert f"<dt>timeouts</dt><dd>{len(summary.timeouts)}</dd>" in page
    assert f"<dt>errors</dt><dd>{len(summary.errors)}</dd>" in page
    assert ('<tr><th scope="row">zed</th><td class="r">0</td><td class="msg">'
            "the whole submission (not graded)</td></tr>") in page


def test_first_run(tmp_path):
    assert "First run: nothing to compare with." in report(tmp_path, klass(), None)


def test_changes_since_the_last_run(tmp_path):
    now = klass()
    before = [dict(r) for r in now if r["student"] != "eve"]             # eve is new
    before[0] = {**before[0], "score": 90.0}                              # alice up 10
    before[1] = {**before[1], "score": 60.0}                              # bob down 2.5
    before[2] = {**before[2], "status": "graded", "score": 40.0}          # carol: now an error
    before.append({"student": "frank", "score": 42.5, "status": "graded"})  # frank is gone
    page = report(tmp_path, now, before)
    assert "1 up, 2 down, 1 new, 1 gone, 1 unchanged." in page
    assert ('<tr class="up"><th scope="row">alice</th><td class="r">90</td><td class="r">100</td>'
            '<td class="r delta">▲ +10</td></tr>') in page
    assert ('<tr class="down"><th scope="row">bob</th><td class="r">60</td><td class="r">57.5</td>'
            '<td class="r delta">▼ -2.5</td></tr>') in page
    assert '<th scope="row">carol<span class="status">graded → error</span></th>' in page
    assert '<tr><th scope="row">eve</th><td class="r">70</td><td>graded</td></tr>' in page
    assert '<tr><th scope="row">frank</th><td class="r">42.5</td><td>graded</td></tr>' in page
    assert '<th scope="row">dan' not in page[page.index('id="changes"'):]


def test_no_changes_and_an_empty_previous_run(tmp_path):
    assert "0 up, 0 down, 0 new, 0 gone, 5 unchanged." in report(tmp_path, klass(), klass())
    assert "0 up, 0 down, 5 new, 0 gone, 0 unchanged." in report(tmp_path, klass(), [])


def test_plots_are_valid_pngs_and_referenced(tmp_path):
    from PIL import Image

    page = report(tmp_path, klass())
    for name in ("score_histogram.png", "criterion_pass_rates.png"):
        path = tmp_path / "report" / name
        assert path.read_bytes().startswith(PNG)
        with Image.open(path) as im:
            im.verify()
            assert 500 <= im.size[0] <= 1200 and 200 <= im.size[1] <= 1200
        assert f'<img src="report/{name}" alt="' in page
    assert page.count("<img ") == page.count(' alt="') == 2
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == [
        "criterion_pass_rates.png", "score_histogram.png"]                  # no temp files left


def test_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    report(a, klass(), klass()[:2])
    report(b, klass(), klass()[:2])
    for name in ("report.html", "report/score_histogram.png", "report/criterion_pass_rates.png"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
        assert b"Software" not in (a / name).read_bytes() and b"tIME" not in (a / name).read_bytes()


def test_self_contained(tmp_path):
    page = report(tmp_path, klass())
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for external in ("<link", "<script", "http", "@import", "url("):
        assert external not in page, external
    assert {s.split('"')[1] for s in page.split("src=")[1:]} == {
        "report/score_histogram.png", "report/criterion_pass_rates.png"}


def test_hostile_text_arrives_as_text(tmp_path):
    crs = course({HOSTILE: 10.0, "cost $\\frac{$": 5.0})
    criteria = crs.criteria
    results = [
        graded(HOSTILE, [check(HOSTILE, 0, "failed", f"printed {HOSTILE}"),
                         check("cost $\\frac{$", 0)], criteria=criteria),
        broken(f"x{HOSTILE}", f"bad {HOSTILE}", criteria=criteria),
        graded(f"t{HOSTILE}", [check(HOSTILE, 0, "timeout", HOSTILE)], criteria=criteria),
    ]
    previous = [{"student": HOSTILE, "score": 1.0, "status": HOSTILE},
                {"student": f"gone{HOSTILE}", "score": 3, "status": "graded"}]
    page = report(tmp_path, results, previous, crs)
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") >= 10
    assert "plot could not be drawn" not in page        # "$" in a criterion's name is no math
    assert (tmp_path / "report" / "criterion_pass_rates.png").is_file()


@pytest.mark.parametrize("results", [
    pytest.param([], id="empty class"),
    pytest.param([broken("a"), broken("b", "")], id="all errors"),
    pytest.param([graded("a", [])], id="graded, no tests"),
    pytest.param([graded("Zoë 张伟 🦊", passing()), graded("\udcff\u202e", passing())], id="non-ascii names"),
    pytest.param([{**graded("a", passing()), "score": math.nan}, {**graded("b", passing()), "score": 250.0},
                  {**graded("c", passing()), "score": -3}, {"student": "d", "status": "graded"},
                  {"status": "weird"}, "not a dict"], id="odd rows"),
])
def test_odd_data_never_raises(tmp_path, results):
    page = report(tmp_path, results, previous=[None, {"score": "x"}, {"student": "q", "score": "abc"}])
    assert "</html>" in page


def test_empty_class(tmp_path):
    report(tmp_path, klass())
    page = report(tmp_path, [])
    assert "<dt>submissions</dt><dd>0</dd>" in page and "<dt>mean (of 100)</dt><dd>–</dd>" in page
    assert "No graded submissions: no scores to show." in page and "<img" not in page
    assert list((tmp_path / "report").iterdir()) == []                  # the last run's plots are gone


def test_all_errors(tmp_path):
    page = report(tmp_path, [broken("a"), broken("b", "")])
    assert "<dt>errors</dt><dd>2</dd>" in page and "<dt>graded</dt><dd>0</dd>" in page
    assert '<tr><th scope="row">b</th><td class="msg">unknown error</td></tr>' in page


def test_a_criterion_with_no_tests(tmp_path):
    crs = course({**CRITERIA, "orphan": 5.0})
    page = report(tmp_path, [graded("a", passing(), criteria=crs.criteria)], crs=crs)
    assert row("orphan", "5", "0 / 1", "0%") in page
    assert "orphan: no test of this criterion ran in any graded submission" in page


def test_zero_point_course(tmp_path):
    crs = course({"only": 0.0}, manual_points=0)
    page = report(tmp_path, [graded("a", [check("only", 0)], criteria=crs.criteria)], crs=crs)
    assert "The auto-graded part is worth 0 points: no scores to show." in page


def test_no_matplotlib_on_import_and_no_pyplot(tmp_path):
    code = ("import sys; import initkit.reports.instructor as m; assert 'matplotlib' not in sys.modules;"
            "sys.path.insert(0, 'tests/reports'); import test_instructor as t;"
            f"m.write_instructor_report(t.course(), {str(tmp_path)!r}, m.class_rows(t.klass(), t.CRITERIA), None);"
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_a_plot_that_fails_leaves_the_tables(tmp_path, monkeypatch):
    import initkit.reports.instructor as instructor

    def boom(data):
        raise RuntimeError("no fonts\nat all")

    monkeypatch.setattr(instructor, "_plot_histogram", boom)
    page = report(tmp_path, klass())
    assert "A plot could not be drawn (histogram: RuntimeError: no fonts); its numbers are in the tables." in page
    assert "score_histogram.png" not in page and "<tr><td>80–90</td>" in page
    assert (tmp_path / "report" / "criterion_pass_rates.png").is_file()


def test_criteria_shown_by_their_titles(tmp_path):
    """report.html names each criterion by its title, its grade_id in small print beside it."""
    import dataclasses

    titles = {"zeros": "Zero initialization", "he_variance": "He initialization: variance",
              "forward": "Forward propagation", "cost": "Cross-entropy cost",
              "symmetry_check": "Detecting a symmetric layer"}
    page = report(tmp_path, klass(), crs=dataclasses.replace(course(), titles=titles))
    assert ('<tr><th scope="row">He initialization: variance <span class="mute">he_variance</span>'
            '</th><td class="r">30</td>') in page
    assert "<h3>He initialization: variance <span class=\"mute\">(he_variance; 2 / 4 with full points)" in page
    assert "on Zero initialization, Cross-entropy cost.</p>" in page
    for name in titles:
        assert f'<th scope="row">{name}<' not in page and f"<h3>{name} " not in page
