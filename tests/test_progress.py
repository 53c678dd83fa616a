"""Progress on stderr: a tqdm bar on a terminal, plain lines every 10% or 10 s in a log."""

from __future__ import annotations

import io

from fakes import add, fake_submission, make_course, run
from initkit.progress import LogProgress, progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_line_every_ten_percent():
    out, clock = io.StringIO(), Clock()
    bar = LogProgress(1000, "grading", out, clock=clock)
    for _ in range(1000):
        clock.now += 0.001
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0].startswith("grading: 100/1000 (10%) in 0 s") and "about 1 s left" in lines[0]
    assert lines[-1].startswith("grading: 1000/1000 (100%) in 1 s, 1000.0 nb/s")


def test_a_line_every_ten_seconds_when_slow():
    out, clock = io.StringIO(), Clock()
    bar = LogProgress(1000, "grading", out, clock=clock)
    for _ in range(30):
        clock.now += 1.0
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    # at 10 s and 20 s, then the last count when closed early (Ctrl-C, an error)
    assert [line.split(" (")[0] for line in lines] == ["grading: 10/1000", "grading: 20/1000",
                                                        "grading: 30/1000"]
    assert "about 980 s left" in lines[1]


def test_terminal_gets_a_bar_and_a_log_gets_lines():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tqdm import tqdm

    bar = progress(5, "grading", file=Terminal())
    assert isinstance(bar, tqdm)
    bar.close()
    assert isinstance(progress(5, "grading", file=io.StringIO()), LogProgress)


def test_batch_progress_in_a_log_has_no_carriage_returns(tmp_path, capfd):
    course = make_course(tmp_path / "course")
    for i in range(25):
        add(course, f"s{i:02d}", fake_submission())
    run(course, progress=True)
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("grading: ")]
    assert lines[-1].startswith("grading: 25/25 (100%)") and 2 <= len(lines) <= 11


def test_a_batch_takes_its_progress_reporter_from_the_caller(tmp_path, capfd):
    """grade_batch's `progress` may be a factory (total, description) -> tqdm's interface: a
    notebook or another front end shows progress its own way, and nothing goes to stderr."""
    from fakes import fake_grade
    from initkit.course import Course
    from initkit.grading.batch import grade_batch

    class Recorder:
        def __init__(self, total, desc):
            made.append((total, desc))
            self.n, self.closed = 0, False

        def update(self, k=1):
            self.n += k

        def close(self):
            self.closed = True

    made: list = []
    bars: list[Recorder] = []
    course = make_course(tmp_path / "course")
    for i in range(3):
        add(course, f"s{i}", fake_submission())
    summary = grade_batch(Course.open(course), tmp_path / "out", grade=fake_grade,
                          host_factory=None, workers=1,
                          progress=lambda total, desc: bars.append(Recorder(total, desc)) or bars[-1])
    assert summary.graded_now == 3 and made == [(3, "grading")]
    assert bars[0].n == 3 and bars[0].closed
    assert capfd.readouterr().err == ""
