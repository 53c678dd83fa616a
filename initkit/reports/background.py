"""The reports of a batch written in a process of their own while the workers grade.

After the last grade, writing every report in the grading process took a quarter of a batch's
time on two cores (1,000 submissions: 10.5 of 66.7 s), most of it in one process while the other
core idled: importing nbgrader (4 s here, most of it jsonschema building a grammar at import),
then a page, a notebook and a gradebook row per student. Here a StreamingReports runs in a child
process forked before the workers: it imports nbgrader and opens the gradebook while the first
submissions grade, writes each student's files as their result arrives, and at `finish` only
what is left (the class-wide files). A process, not a thread: a thread would compete with the
grading process for its GIL, and the pool forks new workers after a crash, which a thread in the
parent makes unsafe.

The outputs are StreamingReports's, byte for byte. If the child dies or cannot be started, the
parent writes every report itself at `finish` (writer.write_reports): nothing is lost. A batch
that is interrupted leaves the reports of the students graded so far (as `nbgrader autograde`
leaves their gradebook rows); the next run completes them and the class-wide files. Like the
grading workers, the child is forked: from a process with other threads (a Jupyter kernel), a
lock one of them held at that moment stays held in the child.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..course import Course
    from ..grading.batch import BatchSummary

_HEADER = struct.Struct(">Q")
STOP_GRACE = 2.0        # seconds an interrupted report process has to end the file it writes


class BackgroundReports:
    """StreamingReports (same arguments) in a child process; `add` never blocks the caller."""

    def __init__(self, course: "Course", out_dir, *, submissions=None,
                 gradebook: str | bool | None = None, autograded: Path | None = None):
        self.options = {"submissions": submissions, "gradebook": gradebook, "autograded": autograded}
        self.course, self.out = course, Path(out_dir)
        self._outbox = bytearray()      # frames the child has not taken yet
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        self._finished = False
        if not hasattr(os, "fork"):
            return                      # written after grading, in this process
        ours, theirs = socket.socketpair()
        sys.stdout.flush()              # else what is buffered now is printed twice
        sys.stderr.flush()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:                 # e.g. the process limit: written after grading, here
            ours.close()
            theirs.close()
            return
        if pid == 0:                    # the child: never returns
            try:
                ours.close()
                _child(theirs, course, self.out, self.options, parent)
            finally:
                os._exit(1)
        theirs.close()
        ours.setblocking(False)
        self._sock, self._pid = ours, pid

    def add(self, result: dict, timestamp: str | None = None) -> None:
        """One student's result as filed; queued here if the child is busy, so grading never
        waits for the reports."""
        if self._sock is None:
            return
        try:
            self._outbox += _frame(("add", result, timestamp))
        except Exception:  # noqa: BLE001 - cannot travel: finish() writes everything here
            self._broken()
            return
        self._flush(block=False)

    def finish(self, summary: "BatchSummary") -> dict[str, str]:
        """As StreamingReports.finish: the rest of the reports; returns what went where and
        turns rows whose outputs failed into error rows in `summary.results`."""
        reply = None
        if self._sock is not None:
            try:
                self._outbox += _frame(("finish", summary))
                self._flush(block=True)
                reply = self._reply() if self._sock is not None else None
            except Exception:  # noqa: BLE001 - the child is gone or the summary cannot travel
                reply = None
        self.close()
        if reply is None or reply[0] == "crashed":
            from .writer import write_reports          # the child is gone: everything, here

            return write_reports(summary, gradebook=self.options["gradebook"],
                                 autograded=self.options["autograded"])
        kind, value, results = reply
        summary.results = results
        if kind == "raised":
            raise value
        return value

    def close(self) -> None:
        """Stop the child if it still runs (an interrupted batch: it ends the file it is writing,
        then stops; killed if it takes more than STOP_GRACE s) and wait for it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._pid is None:
            return
        if not self._exited(STOP_GRACE if self._finished else 0.0):
            self._kill(signal.SIGTERM)
            if not self._exited(STOP_GRACE):
                self._kill(signal.SIGKILL)
                self._exited(None)
        self._pid = None

    def _kill(self, sig: int) -> None:
        try:
            os.kill(self._pid, sig)
        except ProcessLookupError:
            pass

    def _exited(self, wait: float | None) -> bool:
        """Whether the child has ended (reaped), waiting up to `wait` s (None: for good)."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                pid, _ = os.waitpid(self._pid, 0 if wait is None else os.WNOHANG)
            except ChildProcessError:
                return True
            if pid:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _reply(self):
        """The child's answer to `finish`; None if it ends without one. Its liveness is checked
        every second: a child that died after the summary went out never answers."""
        import select

        self._sock.setblocking(True)
        while not select.select([self._sock], [], [], 1.0)[0]:
            if self._exited(0.0):
                self._pid = None
                return None
        reply = _receive(self._sock)
        self._finished = True           # the child ends by itself now
        return reply

    def _flush(self, block: bool) -> None:
        self._sock.setblocking(block)
        try:
            while self._outbox:
                sent = self._sock.send(self._outbox)
                del self._outbox[:sent]
        except BlockingIOError:
            pass
        except OSError:                  # the child died: finish() writes everything here
            self._broken()

    def _broken(self) -> None:
        self._sock.close()
        self._sock = None
        self._outbox.clear()


def _frame(message) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _receive(sock: socket.socket):
    size = _HEADER.unpack(_read(sock, _HEADER.size))[0]
    return pickle.loads(_read(sock, size))      # our own process wrote it


def _read(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _child(sock: socket.socket, course, out: Path, options: dict, parent: int) -> None:
    """The reports process: StreamingReports fed from `sock`, until `finish` or the parent is
    gone. Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C: the parent decides
        signal.signal(signal.SIGTERM, _stop)            # the parent stops it: files stay whole
        _name_process("initkit-reports")
        _end_with_parent(parent)
        from .streaming import StreamingReports, warm_up

        warm_up()          # nbgrader and matplotlib imported while the first submissions grade
        reports = StreamingReports(course, out, **options)
        while True:
            message = _receive(sock)
            if message[0] == "add":
                reports.add(message[1], message[2])
                continue
            summary = message[1]
            try:
                reply = ("ok", reports.finish(summary), summary.results)
            except Exception as exc:  # noqa: BLE001 - e.g. GradebookError: raised in the parent
                reply = ("raised", _picklable(exc), summary.results)
            sock.sendall(_frame(reply))
            break
    except EOFError:                    # the parent stopped (Ctrl-C, or it failed)
        pass
    except BaseException as exc:  # noqa: BLE001 - the parent writes the reports itself
        try:
            sock.sendall(_frame(("crashed", f"{type(exc).__name__}: {exc}", None)))
        except BaseException:  # noqa: BLE001
            pass
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _stop(_signum, _frame):
    raise SystemExit(0)     # unwinds through atomic_write's clean-up and the open transaction


def _end_with_parent(parent: int) -> None:
    """SIGTERM when the parent dies (Linux): the workers it forked hold this socket's other end
    too, so the end of the connection alone could come late."""
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


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception that cannot travel: its text does
        return RuntimeError(f"{type(exc).__name__}: {exc}")
