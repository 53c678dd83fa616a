"""A trusted helper process: forked from this one and fed Python objects over a socket pair.

    child = Child.start(serve, name="initkit-reports")  # None where fork is missing or fails
    child.send(message)             # queued, never blocks the caller; False once the child is gone
    reply = child.request(message)  # waits for the child's one reply; None if it ended without one
    child.stop()                    # waits for it to end (SIGTERM, then SIGKILL) and reaps it

In the child, `serve(channel)` reads messages with `channel.receive()` (EOFError once the parent
has stopped talking) and answers with `channel.reply(obj)`; the child exits when `serve` returns
or raises. It never returns into the parent's code (os._exit).

Frames are an 8-byte big-endian length, then a pickle. Both ends are this program, so pickle is
safe here; a student's process never speaks this (sandbox/inside/wire.py, JSON and .npy with
strict decoding, is the format across that boundary).

Lifetime: the child ignores SIGINT (on Ctrl-C the parent decides); SIGTERM raises SystemExit(0)
in it, so `finally` blocks and context managers run (a file being written is finished or removed);
on Linux it gets SIGTERM when the parent dies (PR_SET_PDEATHSIG), since processes the parent forks
later hold its end of the socket too and the end of the connection alone could come late. Like
any fork, from a process with other threads (a Jupyter kernel), a lock one of them held at that
moment stays held in the child.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
import time
from typing import Callable

_HEADER = struct.Struct(">Q")
STOP_GRACE = 2.0      # seconds a child has to end by itself, then after SIGTERM, before SIGKILL


class Channel:
    """The child's end: `receive` the parent's messages, `reply` to them."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def receive(self):
        """The next message; EOFError once the parent has closed its end."""
        return _receive(self._sock)

    def reply(self, message) -> None:
        self._sock.sendall(_frame(message))


class Child:
    """The parent's handle on a forked child (see the module's doc)."""

    def __init__(self, pid: int, sock: socket.socket):
        self.pid: int | None = pid
        self.max_rss: int | None = None   # bytes: the child's peak resident memory, once reaped
        self._sock: socket.socket | None = sock
        self._outbox = bytearray()        # frames the child has not taken yet
        self._answered = False            # it replied to a request: it ends by itself now

    @classmethod
    def start(cls, serve: Callable[[Channel], None], *, name: str) -> "Child | None":
        """Fork a child running `serve(channel)`, named `name` for ps and top (Linux); None if
        this platform has no fork or the fork fails (a process limit, say)."""
        if not hasattr(os, "fork"):
            return None
        ours, theirs = socket.socketpair()
        sys.stdout.flush()              # else what is buffered now is printed twice
        sys.stderr.flush()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return None
        if pid == 0:                    # the child: never returns
            try:
                ours.close()
                _run(theirs, serve, name, parent)
            finally:
                os._exit(1)
        theirs.close()
        ours.setblocking(False)
        return cls(pid, ours)

    def send(self, message, *, block: bool = False) -> bool:
        """Queue `message` and send what the socket takes now (everything, if `block`); never
        waits for the child otherwise. False if the child is gone or the message cannot be
        pickled (the connection is then dropped: the caller does the work itself)."""
        if self._sock is None:
            return False
        try:
            self._outbox += _frame(message)
        except Exception:  # noqa: BLE001 - cannot travel: as if the child were gone
            self._disconnect()
            return False
        self._flush(block)
        return self._sock is not None

    def request(self, message, *, poll: float = 1.0):
        """Send `message` after everything queued and wait for the child's reply; None if the
        child ends (or is found dead, checked every `poll` s) without replying."""
        import select

        if not self.send(message, block=True):
            return None
        sock = self._sock
        try:
            sock.setblocking(True)
            while not select.select([sock], [], [], poll)[0]:
                if self._reaped(0.0):
                    self._disconnect()
                    return None
            reply = _receive(sock)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._disconnect()
            return None
        self._answered = True
        return reply

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Close the connection and wait for the child to end: `grace` s if it has replied to
        a request (it ends by itself), else SIGTERM at once; SIGKILL if it takes more than
        `grace` s after that. Reaps it (max_rss). Idempotent."""
        self._disconnect()
        if self.pid is None:
            return
        if not self._reaped(grace if self._answered else 0.0):
            self._kill(signal.SIGTERM)
            if not self._reaped(grace):
                self._kill(signal.SIGKILL)
                self._reaped(None)
        self.pid = None

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._outbox.clear()

    def _flush(self, block: bool) -> None:
        self._sock.setblocking(block)
        try:
            while self._outbox:
                sent = self._sock.send(self._outbox)
                del self._outbox[:sent]
        except BlockingIOError:
            pass
        except OSError:                  # the child died
            self._disconnect()

    def _kill(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def _reaped(self, wait: float | None) -> bool:
        """Whether the child has ended (and is reaped), waiting up to `wait` s (None: for good)."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                pid, _status, usage = os.wait4(self.pid, 0 if wait is None else os.WNOHANG)
            except ChildProcessError:
                return True
            if pid:
                self.max_rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _run(sock: socket.socket, serve: Callable[[Channel], None], name: str, parent: int) -> None:
    """The child's life: set up, serve, exit (0 unless `serve` failed). Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C: the parent decides
        signal.signal(signal.SIGTERM, _stop)            # stopped: unwind, files stay whole
        _name_process(name)
        _end_with_parent(parent)
        serve(Channel(sock))
        code = 0
    except (EOFError, SystemExit):      # the parent stopped talking, or stopped us
        code = 0
    except BaseException:  # noqa: BLE001 - no reply: the parent's request() returns None
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stop(_signum, _frame):
    raise SystemExit(0)


def _end_with_parent(parent: int) -> None:
    """SIGTERM when the parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:      # the parent was already gone
        raise SystemExit(0)


def _name_process(name: str) -> None:
    """What ps, top and the benchmark's memory figures call this process (Linux)."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name)
    except OSError:
        pass


def _frame(message) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _receive(sock: socket.socket):
    size = _HEADER.unpack(_read(sock, _HEADER.size))[0]
    return pickle.loads(_read(sock, size))      # our own process wrote it


def _read(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], min(n - got, 1 << 20))
        if not k:
            raise EOFError
        got += k
    return buf
