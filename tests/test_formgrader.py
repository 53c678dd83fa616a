"""formgrader, end to end with real parts: `initkit grade` on a course copy, then a real Jupyter
server with nbgrader's formgrader extension in that course, asked over HTTP as a TA's browser
asks it, and a headless Chromium that opens a grading page and takes a screenshot.

Nothing of the machine's Jupyter set-up is used: the server gets fresh config, data and runtime
folders and JUPYTER_NO_CONFIG, and only the formgrader extension, named on its command line.
Every wait is bounded, and the server and the browser are killed (their whole process group)
whatever happens.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fakes import ASSIGNMENT, REPO, copy_real_course, example_score
from fakes import CRITERIA, HE_LINE, TITLES
from initkit import api
from initkit.course import Course
from initkit.reports.autograded import criterion_text

NB = "init_symmetry"                     # the notebook's name in nbgrader's sense (no .ipynb)
STUDENTS = ("correct", "he_uses_1_over_fan_in", "broken_upload")
SECOND = "signals_depth"                 # the course's second assignment
SECOND_STUDENTS = ("correct", "orthogonal_no_sign_correction")
SERVER_START_SECONDS = 60
HTTP_SECONDS = 60
BROWSER_SECONDS = 60

# End to end (nbgrader's command line, a server or a browser): .ci/run's slow step runs it.
pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------- processes


def _stop(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the process group `proc` leads (it was started with start_new_session), then
    SIGKILL what is left after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
    try:
        os.killpg(proc.pid, signal.SIGKILL)    # children of a leader that already exited, too
    except ProcessLookupError:
        pass
    proc.wait(timeout=grace)


def _die_with_us() -> None:
    """Run in the child before exec: the kernel sends it SIGTERM when this test process dies,
    however it dies (SIGKILL included), so no server or browser outlives the tests (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)        # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"({path}: {exc})"


def _isolated_jupyter_env(home: Path) -> dict[str, str]:
    """The environment with Jupyter's config, data and runtime folders under `home`, and no
    config files read but those named explicitly (the course's nbgrader_config.py still is)."""
    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (home / name).mkdir(parents=True, exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_NO_CONFIG="1",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("JUPYTER_CONFIG_PATH", None)
    env.pop("JUPYTER_PATH", None)
    # nbgrader runs `alembic` when it opens a gradebook: the venv's bin, even when not activated.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course copy with three example submissions, graded by `initkit grade`: (root, results)."""
    root = copy_real_course(tmp_path_factory.mktemp("formgrader") / "course")
    for student in STUDENTS:
        src = REPO / "examples" / ASSIGNMENT / "submitted" / student / ASSIGNMENT / f"{NB}.ipynb"
        dest = root / "submitted" / student / ASSIGNMENT / f"{NB}.ipynb"
        dest.parent.mkdir(parents=True)
        dest.write_bytes(src.read_bytes())
    summary = api.grade(Course.open(root, ASSIGNMENT), workers=2, progress=False)
    # The course's second assignment, into the same gradebook: formgrader lists both.
    for folder in (f"source/{SECOND}", f"release/{SECOND}"):
        shutil.copytree(REPO / folder, root / folder)
    for student in SECOND_STUDENTS:
        shutil.copytree(REPO / "examples" / SECOND / "submitted" / student / SECOND,
                        root / "submitted" / student / SECOND)
    second = api.grade(Course.open(root, SECOND), workers=2, progress=False)
    return root, {**{r["student"]: r for r in summary.results},
                  **{(SECOND, r["student"]): r for r in second.results}}


class Formgrader:
    """A running `jupyter server` with the formgrader extension: its URL and token, and GET."""

    def __init__(self, url: str, token: str, log: Path):
        self.url, self.token, self.log = url.rstrip("/"), token, log

    def get(self, path: str) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_SECONDS) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def get_json(self, path: str):
        status, body = self.get(path)
        assert status == 200, f"GET {path}: HTTP {status}\n{body[:2000]}\n--- server log:\n{_tail(self.log)}"
        return json.loads(body)


@pytest.fixture(scope="module")
def formgrader(graded, tmp_path_factory):
    """`python -m jupyter_server` in the course folder with only nbgrader's formgrader extension,
    on a port the OS picks, with a random token; stopped (process group) at the end."""
    root, _ = graded
    home = tmp_path_factory.mktemp("jupyter")
    env = _isolated_jupyter_env(home)
    token = secrets.token_hex(16)
    log = home / "server.log"
    command = [sys.executable, "-m", "jupyter_server",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
               f"--ServerApp.root_dir={root}",
               """--ServerApp.jpserver_extensions={"nbgrader.server_extensions.formgrader": True}""",
               "--allow-root"]                       # CI containers run as root
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_us)
    try:
        server = Formgrader(_wait_for_server(proc, token, home / "runtime", log), token, log)
        yield server
    finally:
        _stop(proc)


def _wait_for_server(proc: subprocess.Popen, token: str, runtime: Path, log: Path) -> str:
    """The server's URL once formgrader's status API answers; fails (with the log) if the server
    exits or is not up within SERVER_START_SECONDS."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter server exited with {proc.returncode}:\n{_tail(log)}")
        if url is None:
            info = runtime / f"jpserver-{proc.pid}.json"    # the port the OS chose is here
            try:
                url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
            except (OSError, ValueError, KeyError):
                pass
        if url is not None:
            request = urllib.request.Request(f"{url}/formgrader/api/status",
                                             headers={"Authorization": f"token {token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if json.loads(response.read()) == {"status": True}:   # not a login page
                        return url
            except (urllib.error.URLError, OSError, ValueError):
                pass
        time.sleep(0.2)
    pytest.fail(f"jupyter server did not answer within {SERVER_START_SECONDS} s:\n{_tail(log)}")


@pytest.fixture(scope="module")
def notebook_ids(formgrader):
    """{student: the id of their submitted notebook}: what formgrader's grading pages are named by."""
    listed = formgrader.get_json(f"/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{NB}")
    return {s["student"]: s["id"] for s in listed}


class _Text(HTMLParser):
    """A page's text, scripts and styles left out."""

    SKIPPED = ("script", "style")

    def __init__(self):
        super().__init__(convert_charrefs=True)              # &lt; etc. arrive as text
        self.parts: list[str] = []
        self._inside: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self._inside.append(tag)

    def handle_endtag(self, tag):
        if self._inside and tag == self._inside[-1]:
            self._inside.pop()

    def handle_data(self, data):
        if not self._inside:
            self.parts.append(data)


def page_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    parser.close()
    return "".join(parser.parts)


# --------------------------------------------------------------------------- over HTTP


def test_submissions_api_lists_initkits_scores(graded, formgrader):
    """formgrader's list of submissions (its Manage Submissions table) shows every student as
    autograded, with initkit's score, and the written answers still to grade by hand."""
    _, results = graded
    listed = {s["student"]: s for s in formgrader.get_json(f"/formgrader/api/submissions/{ASSIGNMENT}")}
    assert set(listed) == set(STUDENTS)
    for student in STUDENTS:
        row = listed[student]
        assert (row["autograded"], row["submitted"]) == (True, True), student
        assert row["code_score"] == row["score"] == results[student]["score"], student
        course = Course.open(REPO, ASSIGNMENT)
        assert row["max_code_score"] == results[student]["max_score"] == course.max_score, student
        assert (row["max_score"], row["max_written_score"]) == (
            course.max_score + course.manual_points, course.manual_points), student
        assert row["needs_manual_grade"], student                  # the two written answers
    assert {s: listed[s]["score"] for s in STUDENTS} == {s: example_score(s) for s in STUDENTS}


def test_the_second_assignment_is_listed_with_initkits_scores(graded, formgrader):
    _, results = graded
    listed = {s["student"]: s for s in formgrader.get_json(f"/formgrader/api/submissions/{SECOND}")}
    assert set(listed) == set(SECOND_STUDENTS)
    for student in SECOND_STUDENTS:
        assert listed[student]["autograded"] and listed[student]["code_score"] == \
            results[SECOND, student]["score"], student
    course = Course.open(REPO, SECOND)
    notebooks = formgrader.get_json(f"/formgrader/api/submitted_notebooks/{SECOND}/{SECOND}")
    faulty = next(n for n in notebooks if n["student"] == "orthogonal_no_sign_correction")
    status, page = formgrader.get(f"/formgrader/submissions/{faulty['id']}/")
    assert status == 200, page[:2000]
    assert f"for {course.title('orthogonal_sign')} [orthogonal_sign]" in page_text(page)


def test_grades_api_gives_each_criterion_initkits_points(graded, formgrader, notebook_ids):
    _, results = graded
    he = results["he_uses_1_over_fan_in"]
    grades = formgrader.get_json(f"/formgrader/api/grades?submission_id={notebook_ids['he_uses_1_over_fan_in']}")
    auto = {g["name"]: g["auto_score"] for g in grades if g["name"] in he["criteria"]}
    assert auto == {name: c["score"] for name, c in he["criteria"].items()}
    written = {g["name"]: (g["auto_score"], g["needs_manual_grade"]) for g in grades
               if g["name"] not in he["criteria"]}
    assert written == {"written_constant_init": (None, True), "written_symmetry_breaking": (None, True)}


def test_grading_page_shows_initkits_messages(graded, formgrader, notebook_ids):
    """The page a TA grades on (formgrader's /formgrader/submissions/<id>/) renders the autograded
    notebook, whose test cells carry initkit's points and failing checks."""
    _, results = graded
    he = results["he_uses_1_over_fan_in"]
    status, page = formgrader.get(f"/formgrader/submissions/{notebook_ids['he_uses_1_over_fan_in']}/")
    assert status == 200, page[:2000]
    text = page_text(page)
    message = criterion_text(he, "he_variance", TITLES["he_variance"])
    assert message.splitlines()[0] == HE_LINE
    for line in message.splitlines():
        assert line.strip() in text, line
    assert "he_uses_1_over_fan_in" in text                          # the student's name
    assert (f"initkit: 10 / 10 points for {TITLES['xavier_variance']} [xavier_variance] "
            "(4 of 4 checks passed)") in text


def test_grading_page_of_a_broken_upload_says_why(formgrader, notebook_ids):
    status, page = formgrader.get(f"/formgrader/submissions/{notebook_ids['broken_upload']}/")
    assert status == 200, page[:2000]
    text = page_text(page)
    assert "initkit could not grade this submission" in text
    assert "not valid JSON" in text
    assert (f"initkit: 0 / 10 points for {TITLES['he_variance']} [he_variance]: the notebook "
            "could not be graded") in text


def test_unknown_submission_and_missing_token_are_refused(formgrader):
    assert formgrader.get("/formgrader/submissions/no-such-id/")[0] == 404

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as refused:       # no token: sent to log in
        opener.open(f"{formgrader.url}/formgrader/api/submissions/{ASSIGNMENT}", timeout=HTTP_SECONDS)
    assert refused.value.code == 302
    assert refused.value.headers["Location"].startswith("/login?next=")


# --------------------------------------------------------------------------- in a browser


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """Headless Chromium driven over the DevTools protocol (websocket-client, which
    jupyter_server already needs): navigate, evaluate JavaScript, take screenshots."""

    def __init__(self, executable: str, profile: Path, width: int = 1280, height: int = 1000):
        import websocket

        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile.parent / "chromium.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [executable, "--headless", "--no-sandbox",      # --no-sandbox: root in CI containers
                 "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
                 f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
                 "--remote-debugging-port=0", f"--window-size={width},{height}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_us)
        try:
            port = self._devtools_port(profile / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                pages = [t for t in json.load(response) if t.get("type") == "page"]
            self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                                  timeout=BROWSER_SECONDS, suppress_origin=True)
        except BaseException:
            _stop(self.proc, grace=5)
            raise
        self._id = 0
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _devtools_port(self, path: Path) -> int:
        deadline = time.monotonic() + BROWSER_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                return int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.1)
        raise TimeoutError(f"chromium opened no DevTools port in {BROWSER_SECONDS} s:\n{_tail(self.log)}")

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + BROWSER_SECONDS
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())              # events come in between: skipped
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
        raise TimeoutError(f"{method}: no answer in {BROWSER_SECONDS} s")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, seconds: float = BROWSER_SECONDS):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{what}: not within {seconds} s (page: {self.evaluate('location.href')})")

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self):
        try:
            self.ws.close()
        finally:
            _stop(self.proc, grace=5)


@pytest.fixture
def browser(tmp_path):
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium to drive (Debian: apt-get install chromium; .ci/run installs it)")
    b = Browser(executable, tmp_path / "chromium-profile")
    try:
        yield b
    finally:
        b.close()


# What the grading page's own JavaScript made of it, once it has loaded the grades from
# formgrader's API: the score box of the he_variance test cell (its placeholder is the auto
# score), that cell's text, and whether the cell is inside the viewport.
HE_CELL = """(() => {
  const box = document.getElementById("he_variance");
  if (!box || box.getAttribute("placeholder") === null) return null;
  const cell = box.closest(".cell");
  const r = cell.getBoundingClientRect();
  return {placeholder: box.getAttribute("placeholder"), text: cell.innerText,
          top: r.top, bottom: r.bottom, height: innerHeight,
          title: document.title, body: document.body.innerText};
})()"""


def test_browser_shows_the_grading_page_with_initkits_score(graded, formgrader, notebook_ids,
                                                            browser, tmp_path):
    """A real browser logs in with the token, opens the grading page, the page's scripts load the
    grades from formgrader's API, and the he_variance test cell shows initkit's 2.5 points
    and message; the screenshot of that cell is saved as grading-page.png."""
    _, results = graded
    browser.call("Page.enable")
    # Log in as a TA does: formgrader's start page with the token (the session cookie then holds
    # for every page). A grading page opened straight with ?token= renders, but its cookie is
    # scoped to that page's folder, so its scripts' calls to /formgrader/api are sent to log in.
    browser.call("Page.navigate", url=f"{formgrader.url}/formgrader?token={formgrader.token}")
    browser.wait_for("document.readyState === 'complete' && location.pathname.startsWith('/formgrader/manage')",
                     "formgrader's start page")
    url = f"{formgrader.url}/formgrader/submissions/{notebook_ids['he_uses_1_over_fan_in']}/"
    browser.call("Page.navigate", url=url)
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('he_variance')",
                     "the grading page loaded")
    browser.wait_for(HE_CELL, "the grading page's scripts filled in the scores")
    # The cell, just under formgrader's fixed navigation bar.
    browser.evaluate("""(() => { const c = document.getElementById("he_variance").closest(".cell");
                                  window.scrollTo(0, c.getBoundingClientRect().top + scrollY - 70); })()""")
    time.sleep(0.3)                                                  # let the scroll paint
    cell = browser.evaluate(HE_CELL)
    png = browser.screenshot(tmp_path / "grading-page.png")

    he = results["he_uses_1_over_fan_in"]
    assert cell["title"] == NB
    assert float(cell["placeholder"]) == he["criteria"]["he_variance"]["score"] == CRITERIA["he_variance"] / 4
    assert criterion_text(he, "he_variance", TITLES["he_variance"]).splitlines()[0] in cell["text"]
    assert "is 1/fan_in (LeCun)" in cell["text"]
    assert "Submission #" in cell["body"] and "Manual Grading" in cell["body"]   # formgrader's bar
    assert 0 <= cell["top"] and cell["top"] < cell["height"], cell            # the cell is on screen
    _check_png(png, width=1280, height=1000)


def _check_png(data: bytes, width: int, height: int) -> None:
    """A PNG of the window's size with a real page in it (not one flat colour)."""
    from PIL import Image

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.size == (width, height)
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot is (almost) one colour"
