"""initkit.child_process: a forked helper fed over a socket pair. Requests get their reply; a
frozen child never blocks `send`; a dead one makes `request` return None; `stop` ends even a
child that ignores SIGTERM; a child outlives neither its parent nor a failed fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from initkit.child_process import Child


def _echo(channel):
    """Sums the numbers it is sent; replies with the sum to ("sum",)."""
    total = 0
    while True:
        message = channel.receive()
        if message == ("sum",):
            channel.reply(total)
            return
        total += message


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:                                  # reparented and not reaped yet: a zombie is gone too
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_request_gets_the_childs_reply_and_the_child_ends():
    child = Child.start(_echo, name="initkit-test")
    for n in range(100):
        assert child.send(n)
    assert child.request(("sum",)) == sum(range(100))
    pid = child.pid
    child.stop()
    assert child.pid is None and _gone(pid) and child.max_rss > 0
    assert not child.send(1) and child.request(("sum",)) is None       # gone: said, not raised


def test_send_never_waits_for_a_frozen_child():
    child = Child.start(_echo, name="initkit-test")
    os.kill(child.pid, signal.SIGSTOP)
    try:
        big = "x" * (4 << 20)                                          # > any socket buffer
        sender = threading.Thread(target=lambda: [child.send(big) for _ in range(5)], daemon=True)
        sender.start()
        sender.join(30)
        assert not sender.is_alive(), "send() waited for the child"
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.stop()


def test_a_dead_child_makes_request_return_none():
    child = Child.start(_echo, name="initkit-test")
    os.kill(child.pid, signal.SIGKILL)
    started = time.monotonic()
    assert child.request(("sum",), poll=0.1) is None
    assert time.monotonic() - started < 10
    child.stop()


def _stubborn(channel):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    channel.receive()


def test_stop_kills_a_child_that_ignores_sigterm():
    child = Child.start(_stubborn, name="initkit-test")
    time.sleep(0.2)                                 # it has set its handler
    pid = child.pid
    started = time.monotonic()
    child.stop(grace=0.5)
    assert _gone(pid) and time.monotonic() - started < 5


def test_without_fork_there_is_no_child(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert Child.start(_echo, name="initkit-test") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_ends_with_its_parent(tmp_path):
    """The parent killed (no stop, no end of the connection seen: a process forked after the
    child could hold the socket): the child gets SIGTERM and ends."""
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from initkit.child_process import Child
        from test_child_process import _echo
        child = Child.start(_echo, name="initkit-test")
        keeper = os.fork()                 # holds the parent's end of the socket, as workers do
        if keeper == 0:
            time.sleep(30)
            os._exit(0)
        print(child.pid, keeper, flush=True)
        time.sleep(30)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid, keeper = map(int, parent.stdout.readline().split())
    try:
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while not _gone(pid):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        os.kill(keeper, signal.SIGKILL)
