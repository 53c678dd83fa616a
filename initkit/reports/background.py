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
parent writes every report itself at `finish` (writer.write_reports): nothing is lost.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..course import Course
    from ..grading.batch import BatchSummary

_HEADER = struct.Struct(">Q")


class BackgroundReports:
    """StreamingReports (same arguments) in a child process; `add` never blocks the caller."""

    def __init__(self, course: "Course", out_dir, *, submissions=None,
                 gradebook: str | bool | None = None, autograded: Path | None = None):
        self.options = {"submissions": submissions, "gradebook": gradebook, "autograded": autograded}
        self.course, self.out = course, Path(out_dir)
        self._outbox = bytearray()      # frames the child has not taken yet
        self._sock: socket.socket | None = None
        self._pid: int | None = None
        if not hasattr(os, "fork"):
            return                      # written after grading, in this process
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError:                 # e.g. the process limit: written after grading, here
            ours.close()
            theirs.close()
            return
        if pid == 0:                    # the child: never returns
            ours.close()
            _child(theirs, course, self.out, self.options)
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
                reply = _receive(self._sock) if self._sock is not None else None
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
        """Stop the child (if it still runs) and wait for it."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self._pid, 0)
            self._pid = None

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


def _child(sock: socket.socket, course, out: Path, options: dict) -> None:
    """The reports process: StreamingReports fed from `sock`, until `finish` or the parent is
    gone. Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C: the parent decides
        _name_process("initkit-reports")
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
