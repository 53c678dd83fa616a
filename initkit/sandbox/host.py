"""The trusted side's sandbox: one long-lived zygote per grading worker, started with the command
line of bwrap.py; each submission is a StudentSession (session.py) opened on it. See docs/sandbox.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading

from .bwrap import zygote_command
from .errors import SandboxStartError
from .limits import CONTROL_TIMEOUT, ISOLATIONS, ZYGOTE_START_TIMEOUT, Limits
from .session import StudentSession


NO_ISOLATION_MEANS = ("without namespace isolation, student code runs with resource limits, "
                      "timeouts and an unprivileged uid only: it can read what that uid can "
                      "read and reach the network")


def _refusal(reason: str) -> SandboxStartError:
    """Bubblewrap cannot isolate student code here: one line saying so, and the explicit choice."""
    return SandboxStartError(
        f"bubblewrap cannot isolate student code here ({' '.join(reason.split())[:400]}); "
        "install it (apt-get install bubblewrap), or choose isolation 'none' (--isolation none; "
        "for nbgrader autograde: c.GradeWithInitkit.isolation = 'none') if this machine or "
        f"container is the boundary: {NO_ISOLATION_MEANS}")


# Cells that name these get the zygote that has matplotlib loaded; any other cell can still
# import it (the import then counts against its own time limits).
_PLOTTING = re.compile(r"\b(matplotlib|pylab|seaborn)\b")


def uses_plots(cells) -> bool:
    return any(_PLOTTING.search(c.source) for c in cells)


class SandboxHost:
    """One per worker process: a long-lived zygote; one StudentSession at a time.

    The zygote has numpy loaded. Submissions whose cells use matplotlib get their process from a
    second zygote that has it loaded too, started the first time one needs it (plots=True makes
    a host that is only that one)."""

    def __init__(self, limits: Limits | None = None, *, plots: bool = False):
        self.limits = limits or Limits()
        self.plots = plots
        self._plotting: SandboxHost | None | bool = None     # False: it could not start
        wanted = self.limits.isolation
        if wanted not in ISOLATIONS:
            raise SandboxStartError(f"isolation {wanted!r}: expected one of {', '.join(ISOLATIONS)}")
        self.isolation = "none" if wanted == "none" else "bubblewrap"
        self.fallback_reason: str | None = None    # why "auto" runs without bubblewrap here
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._session: StudentSession | None = None
        self._closed = False
        try:
            self._start_checked()
        except SandboxStartError as exc:
            if wanted != "auto" or self.isolation == "none":
                raise
            self.fallback_reason = " ".join(str(exc).split())[:500]
            self.isolation = "none"
            self._start_checked()
        # The plotting zygote, if one is needed, uses what this one settled on.
        self.limits = dataclasses.replace(self.limits, isolation=self.isolation)

    def _start_checked(self):
        if self.isolation == "bubblewrap" and shutil.which("bwrap") is None:
            raise _refusal("bwrap is not installed")
        try:
            self._start_zygote()
            self._check_runs_code()
        except BaseException:
            self._stop_zygote()
            if self._scratch is not None:
                self._scratch.cleanup()
                self._scratch = None
            raise

    # -- zygote life cycle --
    def _start_zygote(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        scratch = None
        if self.isolation == "none":
            self._scratch = tempfile.TemporaryDirectory(prefix="initkit-sandbox-")
            scratch = self._scratch.name
            os.chmod(scratch, 0o711)
        cmd, env = zygote_command(self.isolation, self.limits, theirs.fileno(), scratch,
                                  plots=self.plots)
        errlog = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=errlog, start_new_session=True,
                                          cwd=env.get("HOME", "/"))
        except OSError as exc:
            raise SandboxStartError(f"could not start the sandbox ({cmd[0]}): {exc}") from exc
        finally:
            theirs.close()
        ours.settimeout(ZYGOTE_START_TIMEOUT)
        try:
            ready = json.loads(ours.recv(65536) or b"null")
        except (OSError, ValueError):
            ready = None
        if not isinstance(ready, dict) or not ready.get("ok"):
            self._proc.kill()
            self._proc.wait()
            errlog.seek(0)
            detail = errlog.read()[-3000:].decode(errors="replace").strip()
            ours.close()
            if self.isolation == "bubblewrap":
                raise _refusal(f"bwrap did not start: {detail or 'no error output'}")
            raise SandboxStartError(f"the sandbox (isolation none) did not start: "
                                    f"{detail or 'no error output'}")
        errlog.close()
        self._ctrl = ours

    def _stop_zygote(self):
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, 9)
                except OSError:
                    self._proc.kill()
            self._proc.wait()
            self._proc = None

    def _control(self, msg: dict, fds=()) -> dict:
        """One request to the zygote. Restarts a dead zygote once (a student can kill it when
        the sandbox has no separate uid)."""
        with self._lock:
            for attempt in (0, 1):
                if self._ctrl is None or self._proc is None or self._proc.poll() is not None:
                    if msg["op"] == "end":
                        self._restart_zygote()      # nothing left to end: the sandbox died
                        return {"ok": True, "killed": 0, "restarted": True,
                                "status": "the sandbox died (was its zygote killed?) and was restarted"}
                    self._restart_zygote()
                try:
                    self._ctrl.settimeout(CONTROL_TIMEOUT)
                    data = json.dumps(msg).encode()
                    if fds:
                        socket.send_fds(self._ctrl, [data], list(fds))
                    else:
                        self._ctrl.send(data)
                    reply = json.loads(self._ctrl.recv(65536) or b"null")
                    if isinstance(reply, dict) and reply.get("ok"):
                        return reply
                except (OSError, ValueError):
                    pass
                if attempt == 0 and msg["op"] == "end":
                    self._restart_zygote()
                    return {"ok": True, "killed": 0, "restarted": True,
                                "status": "the sandbox died (was its zygote killed?) and was restarted"}
                self._restart_zygote()
            raise SandboxStartError("the sandbox zygote does not answer")

    def _restart_zygote(self):
        self._stop_zygote()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        self._start_zygote()

    def _check_runs_code(self):
        """A student process must be able to start on this sandbox and run a cell; else
        SandboxStartError. One that starts but cannot run code (e.g. isolation "none" as root,
        with Python in a folder only root can enter) would otherwise give every submission 0 as
        if its cells had crashed: a set-up problem, never the students'."""
        from ..submission import CodeCell
        from .errors import StudentCrash, StudentError, StudentTimeout

        problem = None
        try:
            session = self.open_session([CodeCell(0, "def initkit_canary():\n    return 1\n")])
            try:
                if session.call("initkit_canary") != 1 or session.cell_errors:
                    problem = "; ".join(e.get("message", "") for e in session.cell_errors) or "no value"
            finally:
                session.close()
        except (StudentCrash, StudentError, StudentTimeout, OSError) as exc:
            problem = str(exc)
        if problem is not None:
            raise SandboxStartError(f"the sandbox ({self.isolation}) starts but cannot run a cell: "
                                    f"{' '.join(problem.split())[:500]} (can the sandbox's unprivileged user "
                                    "read the Python installation? docs/sandbox.md)")

    # -- public --
    def open_session(self, cells) -> "StudentSession":
        if self._closed:
            raise RuntimeError("this SandboxHost is closed")
        if self._session is not None and not self._session.closed:
            raise RuntimeError("one StudentSession at a time per SandboxHost: close the previous one")
        cells = list(cells)
        host = self
        if not self.plots and uses_plots(cells):
            if self._plotting is None:
                try:
                    self._plotting = SandboxHost(self.limits, plots=True)
                except SandboxStartError:       # then this zygote: the cells import it themselves
                    self._plotting = False
            host = self._plotting or self
        self._session = StudentSession(host, cells)
        return self._session

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            self._session.close()
        if self._plotting:
            self._plotting.close()
        self._stop_zygote()
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


