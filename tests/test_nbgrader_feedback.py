"""The feedback lifecycle through nbgrader's own command line, with initkit grading in the middle:

    instructor  nbgrader release_assignment                  (a temporary exchange)
    students    nbgrader fetch_assignment, put their notebook, nbgrader submit
    instructor  nbgrader collect, `initkit grade`, a TA's manual grade and comment (nbgrader's
                Gradebook API, as formgrader saves them), nbgrader generate_feedback,
                nbgrader release_feedback
    students    nbgrader fetch_feedback

Two students: the current Unix user, as nbgrader names a student by default, and one submitting
with an explicit `--student` id (shared accounts). Each runs from a home folder of their own,
with their own exchange cache. No Jupyter config of the machine is read (temporary config, data
and runtime folders, JUPYTER_NO_CONFIG); the course's nbgrader_config.py gives the course id.
"""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course, example_score, jupyter_env
from fakes import HE_LINE, TITLES
from initkit.reports.autograded import criterion_text

NB = "init_symmetry"
COURSE_ID = "initkit"                  # nbgrader_config.py's CourseDirectory.course_id
COMMAND_SECONDS = 300
try:
    ME = getpass.getuser()             # who nbgrader submits as when no --student is given
except (KeyError, OSError):            # a uid without a name (some containers): so does nbgrader
    pytest.skip("the current user has no name, and nbgrader names students by it",
                allow_module_level=True)
OTHER = "correct"                      # submits with --student correct
NOTEBOOKS = {ME: "he_uses_1_over_fan_in", OTHER: "correct"}   # which example each one hands in
MANUAL = {                             # what the TA gives each student, by hand
    ME: ("written_constant_init", 4.0, "Right: equal weights get equal gradients. Why 0.5, though?"),
    OTHER: ("written_symmetry_breaking", 5.0, "Exactly: random biases alone break nothing useful."),
}

# End to end (nbgrader's command line, a server or a browser): .ci/run's slow step runs it.
pytestmark = pytest.mark.slow


@dataclass
class Lifecycle:
    root: Path                                  # the course (instructor's side)
    homes: dict[str, Path]                      # each student's home folder
    results: dict[str, dict]                    # initkit's result per student (grades.json)
    first_release: subprocess.CompletedProcess  # release_feedback right after generate_feedback


def _run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=COMMAND_SECONDS)
    if check:
        assert proc.returncode == 0, (f"{' '.join(args)} (in {cwd}) exited {proc.returncode}:\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory) -> Lifecycle:
    from nbgrader.api import Gradebook

    tmp = tmp_path_factory.mktemp("feedback")
    env = jupyter_env(tmp)
    root = copy_real_course(tmp / "course")
    exchange = [f"--Exchange.root={tmp / 'exchange'}"]
    homes = {student: tmp / "home" / student for student in NOTEBOOKS}

    def as_student(student: str, *args: str) -> subprocess.CompletedProcess:
        who = [] if student == ME else [f"--student={student}"]
        return _run(["nbgrader", *args, f"--course={COURSE_ID}", *exchange, *who,
                     f"--Exchange.cache={homes[student] / '.nbgrader_cache'}"], homes[student], env)

    def hand_in(student: str) -> None:
        homes[student].mkdir(parents=True)
        as_student(student, "fetch_assignment", ASSIGNMENT)
        mine = homes[student] / ASSIGNMENT / f"{NB}.ipynb"
        assert mine.is_file()                                         # the released notebook
        example = REPO / "examples" / ASSIGNMENT / "submitted" / NOTEBOOKS[student] / ASSIGNMENT / f"{NB}.ipynb"
        shutil.copy(example, mine)
        as_student(student, "submit", ASSIGNMENT)

    _run(["nbgrader", "release_assignment", ASSIGNMENT, *exchange], root, env)
    _each_student(hand_in)                                # students work at the same time
    _run(["nbgrader", "collect", ASSIGNMENT, *exchange], root, env)

    _run(["initkit.cli", "grade", str(root), "--workers", "2", "--quiet"], tmp, env)
    results = {r["student"]: r for r in json.loads((root / "grading-output" / ASSIGNMENT / "grades.json").read_text())["submissions"]}

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for student, (grade_id, score, comment) in MANUAL.items():   # what formgrader's form saves
            grade = gb.find_grade(grade_id, NB, ASSIGNMENT, student)
            grade.manual_score, grade.needs_manual_grade = score, False
            gb.find_comment(grade_id, NB, ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()

    _run(["nbgrader", "generate_feedback", ASSIGNMENT], root, env)
    first = _run(["nbgrader", "release_feedback", ASSIGNMENT, *exchange], root, env, check=False)
    life = Lifecycle(root, homes, results, first)
    _each_student(lambda student: as_student(student, "fetch_feedback", ASSIGNMENT))
    return life


def _each_student(step) -> None:
    """`step(student)` for every student, side by side (each in their own home folder)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(NOTEBOOKS)) as pool:
        list(pool.map(step, NOTEBOOKS))                   # re-raises the first failure


class FeedbackPage(HTMLParser):
    """What nbgrader's feedback page says: its title line (with the total), the table of contents
    ({cell: (score, max)}) and all of its text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.title, self.toc, self._text = "", {}, []
        self._in_h4 = self._li = False
        self._href = None
        self._li_text: list[str] = []
        self.feed(page)
        self.text = "".join(self._text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h4":
            self._in_h4 = True
        elif tag == "li":
            self._li, self._href, self._li_text = True, None, []
        elif tag == "a" and self._li and (attrs.get("href") or "").startswith("#"):
            self._href = attrs["href"][1:]

    def handle_endtag(self, tag):
        if tag == "h4":
            self._in_h4 = False
        elif tag == "li" and self._li:
            self._li = False
            text = "".join(self._li_text)
            if self._href and "(Score: " in text:
                got, of = text.split("(Score: ", 1)[1].rstrip(") \n").split(" / ")
                self.toc[self._href] = (float(got), float(of))

    def handle_data(self, data):
        self._text.append(data)
        if self._in_h4:
            self.title += data
        if self._li:
            self._li_text.append(data)


def _expected_toc(result: dict, manual: tuple[str, float, str]) -> dict[str, tuple[float, float]]:
    grade_id, score, _ = manual
    toc = {name: (c["score"], c["max_score"]) for name, c in result["criteria"].items()}
    toc.update({"written_constant_init": (0.0, 5.0), "written_symmetry_breaking": (0.0, 5.0)})
    toc[grade_id] = (score, 5.0)
    return toc


@pytest.mark.parametrize("student", [ME, OTHER])
def test_generated_feedback_holds_initkits_messages_and_the_manual_grade(lifecycle, student):
    path = lifecycle.root / "feedback" / student / ASSIGNMENT / f"{NB}.html"
    page = FeedbackPage(path.read_text(encoding="utf-8"))
    result = lifecycle.results[student]
    grade_id, score, comment = MANUAL[student]
    assert page.toc == _expected_toc(result, MANUAL[student])
    assert page.title.strip() == f"{NB} (Score: {result['score'] + score:.1f} / 110.0)"
    for name in result["criteria"]:                     # each test cell: initkit's points and checks
        for line in criterion_text(result, name, TITLES[name]).splitlines():
            assert line.strip() in page.text, (name, line)
    assert comment in page.text
    other = MANUAL[OTHER if student == ME else ME][2]
    assert other not in page.text


def test_he_variance_feedback_names_the_formula(lifecycle):
    page = FeedbackPage((lifecycle.root / "feedback" / ME / ASSIGNMENT / f"{NB}.html").read_text())
    assert lifecycle.results[ME]["score"] == example_score(NOTEBOOKS[ME])
    assert HE_LINE in page.text
    assert "is 1/fan_in (LeCun)" in page.text
    assert page.toc["he_variance"] == (2.5, 10.0)


def test_release_feedback_works_straight_after_initkit_grade(lifecycle):
    assert lifecycle.first_release.returncode == 0, lifecycle.first_release.stderr[-2000:]


@pytest.mark.parametrize("student", [ME, OTHER])
def test_student_fetches_their_own_feedback(lifecycle, student):
    """`nbgrader fetch_feedback` puts the released page in the student's assignment folder,
    under feedback/<submission timestamp>/, and it is the page generate_feedback made for them."""
    fetched = sorted((lifecycle.homes[student] / ASSIGNMENT / "feedback").glob(f"*/{NB}.html"))
    assert len(fetched) == 1, fetched
    stamp = (lifecycle.root / "submitted" / student / ASSIGNMENT / "timestamp.txt").read_text().strip()
    assert fetched[0].parent.name == stamp
    generated = lifecycle.root / "feedback" / student / ASSIGNMENT / f"{NB}.html"
    assert fetched[0].read_bytes() == generated.read_bytes()
    page = FeedbackPage(fetched[0].read_text(encoding="utf-8"))
    result = lifecycle.results[student]
    first_lines = {criterion_text(result, n, TITLES[n]).splitlines()[0] for n in result["criteria"]}
    assert all(line in page.text for line in first_lines)
    assert MANUAL[student][2] in page.text


def test_the_exchange_route_gave_initkit_the_submissions(lifecycle):
    """collect put each student where `initkit grade` reads them, with nbgrader's timestamp."""
    assert {s: r["status"] for s, r in lifecycle.results.items()} == {ME: "graded", OTHER: "graded"}
    assert {s: r["score"] for s, r in lifecycle.results.items()} == {
        s: example_score(NOTEBOOKS[s]) for s in (ME, OTHER)}
    for student in NOTEBOOKS:
        folder = lifecycle.root / "submitted" / student / ASSIGNMENT
        assert sorted(p.name for p in folder.iterdir()) == [
            f"{NB}.ipynb", "submission_secret.txt", "timestamp.txt"]
