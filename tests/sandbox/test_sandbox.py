"""The trust boundary under abuse: each test checks that the abuse stayed within its bounds AND
that the rest of the submission (a good function `ok`) is still graded normally."""

from __future__ import annotations

import dataclasses
import os
import resource
import socket
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from initkit.sandbox import (RNG, BudgetExhausted, Handle, Limits, RepeatedTimeout, SandboxHost,
                             StudentCrash, StudentError, StudentTimeout)
from initkit.sandbox.inprocess import InProcessStudent
from initkit.sandbox.limits import MAX_RESTARTS, MAX_TIMEOUTS_PER_FUNCTION
from initkit.submission import CodeCell

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(cell_timeout=3.0, call_timeout=1.5, total_timeout=40.0, cpu_seconds=20,
                memory_mb=256, max_processes=16, max_output_bytes=4096,
                max_file_bytes=1 << 20, max_message_bytes=4 << 20)

GOOD = """
import numpy as np
def ok(x=1.0):
    return np.arange(3.0) * x
"""


def cells(*sources: str) -> list[CodeCell]:
    """A notebook: the good cell first, then the given ones (indices 0, 1, ...)."""
    return [CodeCell(i, textwrap.dedent(s)) for i, s in enumerate([GOOD, *sources])]


def assert_ok(session):
    np.testing.assert_array_equal(session.call("ok", 2.0), [0.0, 2.0, 4.0])


@pytest.fixture(scope="module")
def host():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = SandboxHost(LIMITS)
    yield h
    h.close()


bubblewrap_only = pytest.mark.skipif(not __import__("shutil").which("bwrap"),
                                     reason="needs bubblewrap namespaces")


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return found


def processes_of_uid(uid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    out.append(int(name))
            except OSError:
                pass
    return out


def wait_until(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# ------------------------------------------------------------------------------------------------

def test_round_trip_is_exact_and_matches_in_process(host):
    src = """
    import numpy as np
    class Cache:
        def __init__(self, d): self.d = d
        def __getitem__(self, k): return self.d[k]
    def echo(*a, **k): return a, k
    def structure():
        return {"t": (1, 2.5, "s", None, True), "l": [np.float64(1.5), np.int32(-7), np.bool_(True)],
                "big": 2**200, "f": float("inf")}
    def make_cache(x): return Cache({"A1": x * 2, "n": 3})
    def use_cache(c): return c["A1"].sum()
    def draw(rng): return rng.normal(size=4)
    def fortran(): return np.asfortranarray(np.arange(6.0).reshape(2, 3))
    def weird(): return {1: "int key"}, object(), np.array([object()])
    """
    nb = cells(src)
    special = np.array([0.1, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308])
    ints = np.arange(-5, 5, dtype=np.int64).reshape(2, 5)
    with host.open_session(nb) as s, InProcessStudent(nb) as ip:
        for student in (s, ip):
            args, kwargs = student.call("echo", special, ints, np.zeros((0, 3)), np.array(3.0),
                                        flag=np.bool_(False), nested=[{"a": (1,)}])
            assert args[0].tobytes() == special.tobytes() and args[0].dtype == np.float64
            np.testing.assert_array_equal(args[1], ints)
            assert args[1].dtype == np.int64 and args[2].shape == (0, 3) and args[3].shape == ()
            assert kwargs == {"flag": np.bool_(False), "nested": [{"a": (1,)}]}
            assert type(kwargs["flag"]) is np.bool_

            got = student.call("structure")
            assert got["t"] == (1, 2.5, "s", None, True) and got["big"] == 2**200
            assert [type(v) for v in got["l"]] == [np.float64, np.int32, np.bool_]
            assert got["l"] == [1.5, -7, True] and got["f"] == float("inf")

            cache = student.call_keep("make_cache", np.ones(3))
            assert isinstance(cache, Handle) and "Cache" in repr(cache)
            np.testing.assert_array_equal(student.fetch(cache, "A1"), [2.0, 2.0, 2.0])
            assert student.call("use_cache", cache) == 6.0
            assert isinstance(student.fetch(cache), Handle)       # not plain data: stays there

            np.testing.assert_array_equal(student.call("draw", RNG(7)),
                                          np.random.default_rng(7).normal(size=4))
            f = student.call("fortran")
            np.testing.assert_array_equal(f, np.arange(6.0).reshape(2, 3))
            mapping, obj, objarr = student.call("weird")
            assert all(isinstance(h, Handle) for h in (mapping, obj, objarr))
            assert_ok(student)
        # same types and values either way
        for fn in ("structure", "fortran"):
            a, b = s.call(fn), ip.call(fn)
            assert repr(a) == repr(b)


def test_errors_carry_student_traceback_only(host):
    nb = cells("def bad(x):\n    return helper(x)\ndef helper(x):\n    return 1 / x\n",
               "syntax error here(", "raise KeyError('k')", "def after(): return 'after'")
    with host.open_session(nb) as s:
        assert [(e["cell"], e["kind"]) for e in s.cell_errors] == [(2, "error"), (3, "error")]
        assert "SyntaxError" in s.cell_errors[0]["message"]
        assert "KeyError" in s.cell_errors[1]["message"]
        with pytest.raises(StudentError) as info:
            s.call("bad", 0)
        err = info.value
        assert err.fn == "bad" and err.exc_type == "ZeroDivisionError"
        assert "<cell 1>" in err.traceback and "sandbox" not in err.traceback
        assert "host.py" not in err.traceback and "initkit" not in err.traceback
        with pytest.raises(StudentError, match="not defined"):
            s.call("missing")
        assert s.has("after") and s.has("ok") and not s.has("missing") and not s.has("np")
        assert s.call("after") == "after"
        assert_ok(s)


FAILING_CELLS = ("import numpy as np\ndef forward(W, A_prev, b):\n    Z = W @ A_prev + b\n    return Z\n",
                 "W = np.zeros((3, 4))\n\nA = np.zeros((5, 1))\nZ = forward(W, A, 0)\n",
                 "x = (\n")


@pytest.mark.parametrize("kind", ["sandbox", "inprocess"])
def test_a_failed_cell_reads_as_its_error(host, kind):
    """Its message's first line: the error and the student's line that raised it (cells from 1);
    the traceback of student frames (with their lines) after it; never a grader path."""
    nb = cells(*FAILING_CELLS)
    session = host.open_session(nb) if kind == "sandbox" else InProcessStudent(nb, LIMITS)
    with session as s:
        assert [(e["cell"], e["kind"]) for e in s.cell_errors] == [(2, "error"), (3, "error")]
        first, _, rest = s.cell_errors[0]["message"].partition("\n")
        assert first.startswith("ValueError: matmul: ")
        assert first.endswith(" — in cell 2, line 3: Z = W @ A_prev + b")
        assert rest.startswith("Traceback (most recent call last):\n")
        assert '  File "<cell 2>", line 4, in <module>\n    Z = forward(W, A, 0)\n' in rest
        assert '  File "<cell 1>", line 3, in forward\n    Z = W @ A_prev + b\n' in rest
        assert rest.splitlines()[-1].startswith("ValueError: matmul: ")
        assert ".py" not in rest and "initkit" not in rest      # student frames only
        syntax = s.cell_errors[1]["message"].splitlines()
        assert syntax[0] == "SyntaxError: '(' was never closed — in cell 4, line 1: x = ("
        assert syntax[1] == '  File "<cell 3>", line 1'
        with pytest.raises(StudentError) as info:      # a call's traceback shows the lines too
            s.call("forward", np.zeros((3, 4)), np.zeros((5, 1)), 0)
        assert '  File "<cell 1>", line 3, in forward\n    Z = W @ A_prev + b' in info.value.traceback
        assert_ok(s)


def test_monkeypatching_numpy_changes_nothing_in_the_grader(host):
    nb = cells("""
    import numpy as np, numpy.testing
    np.allclose = lambda *a, **k: True
    np.testing.assert_allclose = lambda *a, **k: None
    def wrong(): return np.ones(3)
    """, "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.len = lambda x: 0")
    with host.open_session(nb) as s:
        # breaking the student process's own machinery only costs that cell
        assert [e["cell"] for e in s.cell_errors] == [2]
        got = s.call("wrong")
        assert not np.allclose(got, np.zeros(3))
        with pytest.raises(AssertionError):
            np.testing.assert_allclose(got, np.zeros(3))
        assert_ok(s)


@bubblewrap_only
def test_files_outside_the_sandbox_are_invisible_and_unwritable(host, tmp_path):
    home = Path.home()
    targets = [str(REPO / "pwned.txt"), "/work/pwned.txt", str(home / "pwned.txt"),
               str(REPO / "initkit" / "pwned.py")]
    readable = [str(REPO / "autograder"), str(REPO / "pyproject.toml"), str(REPO / "initkit"),
                str(REPO / "README.md"), str(home), "/work", str(tmp_path)]
    nb = cells("""
    import os
    def try_write(paths):
        out = {}
        for p in paths:
            try:
                with open(p, "w") as f:
                    f.write("x")
                out[p] = "written"
            except OSError as e:
                out[p] = type(e).__name__
        return out
    def try_read(paths):
        out = {}
        for p in paths:
            try:
                out[p] = sorted(os.listdir(p)) if os.path.isdir(p) else open(p).read()[:50]
            except OSError as e:
                out[p] = type(e).__name__
        return out
    def scratch():
        with open("mine.txt", "w") as f:
            f.write("kept in the sandbox")
        return open("mine.txt").read(), os.getcwd()
    def delete_everything():
        import shutil
        for p in ("/usr/bin/env", "/etc/hostname", "/sandbox/host.py"):
            try:
                os.remove(p)
            except OSError:
                pass
        shutil.rmtree("/usr/share/doc", ignore_errors=True)
        try:
            os.rename("/usr/bin", "/usr/bin2")
        except OSError:
            pass
        return os.path.exists("/usr/bin/env")
    """)
    (tmp_path / "secret.txt").write_text("secret")
    with host.open_session(nb) as s:
        written = s.call("try_write", targets)
        assert all(v != "written" for v in written.values()), written
        seen = s.call("try_read", readable)
        # Only the Python installation is visible (its parent folders show nothing else).
        python_dirs = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
        for path, value in seen.items():
            if isinstance(value, list):
                assert all(any(d.startswith(os.path.join(path, name)) for d in python_dirs)
                           for name in value), (path, value)
            else:
                assert isinstance(value, str) and value.endswith("Error"), (path, value)
        for path in readable[:4]:
            assert seen[path].endswith("Error")
        text, cwd = s.call("scratch")
        assert text == "kept in the sandbox" and cwd.startswith("/tmp")
        assert s.call("delete_everything") is True
        assert_ok(s)
    for target in targets:
        assert not Path(target).exists()
    assert Path("/usr/bin/env").exists()
    # the next submission does not see the previous one's files
    with host.open_session(cells("import os\ndef ls(): return os.listdir('/tmp')")) as s:
        assert all(not name.startswith("w") or name == "w" for name in s.call("ls")[:0])
        assert "mine.txt" not in str(s.call("ls"))


def test_printing_hundreds_of_megabytes_is_bounded(host):
    nb = cells("""
    import os, sys
    for _ in range(200):
        print("x" * 1_000_000)
    def shout():
        for _ in range(200):
            sys.stdout.write("y" * 1_000_000)
            sys.stderr.write("z" * 1_000_000)
        os.write(1, b"w" * 50_000_000)
        return "done"
    """)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with host.open_session(nb) as s:
        assert s.cell_errors == []
        assert s.call("shout") == "done"
        assert_ok(s)
    assert time.monotonic() - start < 10
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50


def test_infinite_loop_in_function_times_out_then_next_call_works(host):
    nb = cells("def spin():\n    while True:\n        pass\n", "state = {'n': 41}\ndef n(): return state['n'] + 1")
    with host.open_session(nb) as s:
        handle = s.call_keep("ok")
        start = time.monotonic()
        with pytest.raises(StudentTimeout) as info:
            s.call("spin")
        assert not isinstance(info.value, BudgetExhausted)
        assert LIMITS.call_timeout <= time.monotonic() - start < LIMITS.call_timeout + 2
        assert s.call("n") == 42       # restarted, cells re-run
        assert_ok(s)
        with pytest.raises(StudentCrash, match="restarted"):
            s.fetch(handle)


def test_a_function_that_keeps_hanging_is_not_called_again(host):
    nb = cells("def spin(x):\n    while True:\n        pass\n", "def n(): return 42")
    with host.open_session(nb) as s:
        for _ in range(MAX_TIMEOUTS_PER_FUNCTION):
            with pytest.raises(StudentTimeout) as info:
                s.call("spin", 1)
            assert not isinstance(info.value, RepeatedTimeout)
        start = time.monotonic()
        with pytest.raises(RepeatedTimeout, match="already exceeded"):
            s.call("spin", 2)
        assert time.monotonic() - start < 0.5      # refused without waiting
        assert s.call("n") == 42                   # other functions still run
        assert_ok(s)


def test_hanging_and_crashing_cells_are_skipped_and_the_rest_runs(host):
    nb = cells("while True:\n    pass", "import os\nos._exit(0)", "def later(): return 'later'",
               "raise RuntimeError('plain error')")
    start = time.monotonic()
    with host.open_session(nb) as s:
        kinds = {e["cell"]: e["kind"] for e in s.cell_errors}
        assert kinds == {1: "timeout", 2: "crash", 4: "error"}
        assert "exited with status 0" in s.cell_errors[1]["message"]
        assert s.call("later") == "later"
        assert_ok(s)
    assert time.monotonic() - start < LIMITS.cell_timeout + 5


def test_memory_limit(host):
    nb = cells("""
    import numpy as np
    hog = []
    try:
        while True:
            hog.append(np.ones(10_000_000))
    finally:
        del hog
    """, """
    def allocate():
        return np.ones((2**31,))
    def grow():
        x = []
        while True:
            x.append(bytearray(50_000_000))
    """)
    with host.open_session(nb) as s:
        assert s.cell_errors[0]["cell"] == 1
        assert "MemoryError" in s.cell_errors[0]["message"] or s.cell_errors[0]["kind"] == "crash"
        with pytest.raises(StudentError) as info:
            s.call("allocate")
        assert info.value.exc_type == "MemoryError"
        with pytest.raises((StudentError, StudentCrash)):
            s.call("grow")
        assert_ok(s)


def test_os_exit_in_function_is_a_crash_then_calls_work(host):
    nb = cells("import os, time\ndef die(): os._exit(3)\ndef kill9(): os.kill(os.getpid(), 9)\n"
               "def die_leaving_a_fork():\n    if os.fork() == 0:\n        time.sleep(60)\n"
               "    os._exit(4)\n")
    with host.open_session(nb) as s:
        # the forked process still holds the socket: found by the timeout, reported as a crash
        with pytest.raises(StudentCrash, match="status 4"):
            s.call("die_leaving_a_fork")
        assert_ok(s)
        with pytest.raises(StudentCrash, match="status 3"):
            s.call("die")
        assert_ok(s)
        with pytest.raises(StudentCrash, match="SIGKILL"):
            s.call("kill9")
        assert_ok(s)


def test_restarts_are_bounded(host):
    nb = cells("import os\ndef die(): os._exit(1)")
    with host.open_session(nb) as s:
        for _ in range(MAX_RESTARTS + 1):
            with pytest.raises(StudentCrash):
                s.call("die")
        start = time.monotonic()
        with pytest.raises(StudentCrash, match="no more restarts"):
            s.call("ok")
        assert time.monotonic() - start < 0.5


def test_background_processes_do_not_outlive_the_submission(host):
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 10**6}"
    nb = cells(f"""
    import os, subprocess, time
    subprocess.Popen(["sleep", "{marker}1"], start_new_session=True)
    if os.fork() == 0:                      # double fork with setsid: a daemon
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "{marker}2"])
        os._exit(0)
    if os.fork() == 0:                      # a plain forked Python child
        time.sleep(300)
        os._exit(0)
    def spawn():
        subprocess.Popen(["sleep", "{marker}3"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return "spawned"
    """)
    with host.open_session(nb) as s:
        assert s.cell_errors == []
        assert s.call("spawn") == "spawned"
        assert wait_until(lambda: len(processes_with(marker)) == 3)
        assert_ok(s)
    assert wait_until(lambda: processes_with(marker) == [])
    if os.geteuid() == 0 and host.isolation == "bubblewrap":
        uid = 200000 + os.getpid() % 100000
        assert wait_until(lambda: processes_of_uid(uid) == [])


@bubblewrap_only
def test_no_network(host):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    nb = cells(f"""
    import socket
    def connect():
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
            return "connected"
        except OSError as e:
            return type(e).__name__
    def outside():
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=1).close()
            return "connected"
        except OSError as e:
            return type(e).__name__
    """)
    try:
        with host.open_session(nb) as s:
            assert s.call("connect") != "connected"
            assert s.call("outside") != "connected"
            assert_ok(s)
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


@bubblewrap_only
def test_fork_bomb_is_bounded_by_the_process_limit(host):
    nb = cells("""
    import os, time
    def count_forks():
        n = 0
        for _ in range(1000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            n += 1
        return n
    """)
    with host.open_session(nb) as s:
        n = s.call("count_forks")
        assert 1 <= n < LIMITS.max_processes
        assert_ok(s)
    start = time.monotonic()
    with host.open_session(cells("import os\nwhile True:\n    os.fork()",
                                 "def after(): return 'after'")) as s:
        assert s.cell_errors and s.cell_errors[0]["cell"] == 1
        assert s.call("after") == "after"
        assert_ok(s)
    assert time.monotonic() - start < 15
    if os.geteuid() == 0:
        assert wait_until(lambda: processes_of_uid(200000 + os.getpid() % 100000) == [])


@bubblewrap_only
def test_killing_the_zygote_affects_only_that_session(host):
    nb = cells("""
    import os, signal
    def kill_parent():
        try:
            os.kill(os.getppid(), signal.SIGKILL)
        except OSError as e:
            return type(e).__name__
        return "sent"
    def kill_everything():
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        return "done"
    """)
    with host.open_session(nb) as s:
        try:
            s.call("kill_parent")
            s.call("kill_everything")
            assert_ok(s)
        except StudentCrash:
            pass            # without a separate uid the student can kill the zygote: that is all
    with host.open_session(nb) as s:
        assert_ok(s)
    # The grader-side recovery itself: the zygote dies between and during sessions.
    os.killpg(host._proc.pid, 9)
    with host.open_session(nb) as s:
        assert_ok(s)
        os.killpg(host._proc.pid, 9)
        host._proc.wait()
        time.sleep(0.2)         # the namespace's processes die with it (--die-with-parent)
        with pytest.raises(StudentCrash):
            s.call("ok")
    with host.open_session(nb) as s:
        assert_ok(s)


def test_huge_result_is_refused_clearly(host):
    nb = cells("""
    import numpy as np, os, time
    def huge(): return np.zeros(1_000_000)          # 8 MB > the 4 MB test limit
    def many(): return ["x" * 1000] * 5000                # 5 MB of JSON, cheap to encode
    def forge():
        import socket, stat
        for fd in map(int, os.listdir("/proc/self/fd")):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.write(fd, (2**62).to_bytes(8, "big") + b"\\0" * 4)
            except OSError:
                pass
        time.sleep(30)
    """)
    with host.open_session(nb) as s:
        with pytest.raises(StudentError, match="too large") as info:
            s.call("huge")
        assert info.value.exc_type == "ResultTooLarge"
        with pytest.raises(StudentError, match="too large"):
            s.call("many")
        start = time.monotonic()
        with pytest.raises(StudentCrash, match="MB"):
            s.call("forge")
        assert time.monotonic() - start < 1.5
        assert_ok(s)


def test_total_budget():
    limits = Limits(cell_timeout=2.0, call_timeout=1.0, total_timeout=2.5, memory_mb=256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = SandboxHost(limits)
    try:
        nb = cells("def spin():\n    while True:\n        pass\n", "spin2 = spin")
        with h.open_session(nb) as s:
            assert_ok(s)
            for _ in range(2):
                with pytest.raises(StudentTimeout):
                    s.call("spin")
            with pytest.raises(BudgetExhausted):
                s.call("spin2")
            start = time.monotonic()
            with pytest.raises(BudgetExhausted):
                s.call("ok")
            assert time.monotonic() - start < 0.1
    finally:
        h.close()


def test_one_session_at_a_time(host):
    with host.open_session(cells()) as s:
        with pytest.raises(RuntimeError, match="one StudentSession"):
            host.open_session(cells())
        assert_ok(s)


def test_without_bubblewrap_limits_still_hold():
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 10**6 + 7}"
    h = SandboxHost(dataclasses.replace(LIMITS, isolation="none"))
    try:
        assert h.isolation == "none"
        nb = cells(f"""
        import os, subprocess
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{marker}"])
            os._exit(0)
        def die(): os._exit(2)
        def spin():
            while True:
                pass
        """)
        with h.open_session(nb) as s:
            assert s.cell_errors == []
            assert wait_until(lambda: len(processes_with(marker)) == 1)
            with pytest.raises(StudentCrash):
                s.call("die")
            with pytest.raises(StudentTimeout):
                s.call("spin")
            assert_ok(s)
        assert wait_until(lambda: processes_with(marker) == [])
    finally:
        h.close()


def test_in_process_student_same_exceptions():
    nb = cells("print('x' * 10**7)\nraise ValueError('cell')",
               "def bad(): raise KeyError('k')\ndef spin():\n    while True:\n        pass\n"
               "def big(): return np.zeros(10**6)")
    limits = Limits(call_timeout=0.3, total_timeout=5.0, max_message_bytes=1 << 20)
    with InProcessStudent(nb, limits) as s:
        assert [(e["cell"], e["kind"]) for e in s.cell_errors] == [(1, "error")]
        with pytest.raises(StudentError) as info:
            s.call("bad")
        assert info.value.exc_type == "KeyError" and "<cell 2>" in info.value.traceback
        with pytest.raises(StudentTimeout):
            s.call("spin")
        with pytest.raises(StudentError, match="too large"):
            s.call("big")
        with pytest.raises(StudentError, match="not defined"):
            s.call("missing")
        assert s.has("ok") and not s.has("missing")
        assert_ok(s)


def test_bubblewrap_is_the_default_and_fails_closed(monkeypatch):
    """Where bwrap cannot start, the default refuses with one line naming --isolation none; it
    never quietly runs student code without isolation."""
    from initkit.sandbox import host as sandbox_host
    from initkit.sandbox.errors import SandboxStartError

    assert Limits().isolation == "bubblewrap"
    monkeypatch.setattr(sandbox_host.shutil, "which", lambda name: None)
    with pytest.raises(SandboxStartError) as refused:
        SandboxHost(LIMITS)
    message = str(refused.value)
    assert "\n" not in message and "--isolation none" in message and "bwrap is not installed" in message
    monkeypatch.undo()


def test_auto_falls_back_to_none_and_says_why(monkeypatch):
    from initkit.sandbox import host as sandbox_host

    monkeypatch.setattr(sandbox_host.shutil, "which", lambda name: None)
    h = SandboxHost(dataclasses.replace(LIMITS, isolation="auto"))
    try:
        assert h.isolation == "none" and "bwrap is not installed" in h.fallback_reason
        with h.open_session(cells("def f():\n    return 3\n")) as s:
            assert s.call("f") == 3
    finally:
        h.close()


@bubblewrap_only
def test_auto_uses_bubblewrap_where_it_starts():
    h = SandboxHost(dataclasses.replace(LIMITS, isolation="auto"))
    try:
        assert h.isolation == "bubblewrap" and h.fallback_reason is None
    finally:
        h.close()


def test_an_unknown_isolation_is_refused():
    from initkit.sandbox.errors import SandboxStartError

    with pytest.raises(SandboxStartError, match="expected one of bubblewrap, none, auto"):
        SandboxHost(dataclasses.replace(LIMITS, isolation="chroot"))
