"""The zygote: one long-lived process per sandbox that pre-imports numpy (and matplotlib, in the
zygote for cells that plot) and forks a student process per submission; after each submission it kills everything the student left and wipes the
scratch folder, so nothing of a submission outlives it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

from .child import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, _prctl, _start_child


class Zygote:
    def __init__(self, ctrl, cfg: dict):
        self.ctrl, self.cfg = ctrl, cfg
        self.me = os.getpid()
        self.scratch = cfg["scratch"]
        self.own = os.path.join(self.scratch, ".zygote")
        self.keep = set(cfg.get("keep", ()))
        self.child: int | None = None
        self.serial = 0

    def loop(self):
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.ctrl, 65536, 4)
            except OSError:
                data, fds = b"", []
            if not data:
                self.end(0.0)
                os._exit(0)
            msg = json.loads(data)
            op = msg.get("op")
            if op == "spawn":
                reply = self.spawn(msg["cfg"], fds[0])
            elif op == "end":
                reply = self.end(float(msg.get("wait", 0.0)))
            else:
                reply = {"ok": True, "pid": self.me}
            self.ctrl.send(json.dumps(reply).encode())

    def spawn(self, cfg: dict, fd: int) -> dict:
        self.serial += 1
        workdir = os.path.join(self.scratch, f"w{self.serial}")
        os.set_inheritable(fd, False)      # programs the student runs must not hold it open
        sock = socket.socket(fileno=fd)
        pid = os.fork()
        if pid == 0:
            self.ctrl.close()
            _start_child(sock, {**self.cfg, **cfg}, workdir)
        sock.close()
        self.child = pid
        return {"ok": True, "pid": pid}

    def end(self, wait: float) -> dict:
        """Kill the submission (waiting up to `wait` s for its child to exit by itself, to report
        how it ended), every process it left behind, and its files."""
        status = None
        if self.child is not None:
            deadline = time.monotonic() + wait
            while True:
                try:
                    pid, st = os.waitpid(self.child, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    status = _describe(st)
                    break
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.005)
            self.child = None
        killed = self.kill_all()
        self.wipe()
        return {"ok": True, "status": status, "killed": killed}

    def kill_all(self) -> int:
        killed = 0
        for _ in range(200):
            victims = self.victims()
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
            for pid in victims:         # our own children: wait for them, no polling
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
            reaped = self.reap()
            if not victims and not reaped:
                break
            if victims and not reaped and all(_alive(p) is False for p in victims):
                time.sleep(0.0005)      # zombies of others: wait until they are reparented to us
        return killed

    def reap(self) -> int:
        n = 0
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return n
            if pid == 0:
                return n
            n += 1

    def victims(self) -> list[int]:
        """Live processes to kill: with a PID namespace, all but pid 1 and us; without one, our
        descendants (as child subreaper, we inherit whatever escaped with setsid/double fork)."""
        if self.cfg["pidns"]:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            return [p for p in pids if p not in (1, self.me) and _alive(p)]
        out, todo = [], [self.me]
        while todo:
            pid = todo.pop()
            for kid in _children(pid):
                if _alive(kid):
                    out.append(kid)
                todo.append(kid)
        return out

    def wipe(self):
        import shutil

        keep = {self.own, *self.keep}
        for name in os.listdir(self.scratch):
            path = os.path.join(self.scratch, name)
            if path in keep:  # the zygote's own folder; folders holding read-only Python binds
                continue
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
            except OSError:
                pass


def _children(pid: int) -> list[int]:
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return kids


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (a zombie cannot be killed, only reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        why = {"SIGKILL": " (killed, e.g. by the memory or process limits)",
               "SIGXCPU": " (CPU time limit exceeded)", "SIGSEGV": " (segmentation fault)",
               "SIGXFSZ": " (file size limit exceeded)"}.get(name, "")
        return f"the student process was killed by signal {name}{why}"
    code = os.WEXITSTATUS(status)
    return f"the student process exited with status {code} (e.g. os._exit or sys.exit)"


def zygote_main(fd: int, cfg: dict):
    ctrl = socket.socket(fileno=fd)
    for p in cfg["sys_path"]:
        if p not in sys.path:
            sys.path.append(p)
    os.makedirs(os.path.join(cfg["scratch"], ".zygote"), exist_ok=True)
    os.chdir(os.path.join(cfg["scratch"], ".zygote"))
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_DUMPABLE, 0)          # students (same uid without root) cannot ptrace us
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    import numpy  # pre-imported once, shared copy-on-write by every child

    # Warm what every submission uses (random generators, matmul, reductions), so the lazy set-up
    # happens once here instead of in each child's first call.
    _rng = numpy.random.default_rng(0)
    _a = _rng.standard_normal((64, 64)) * _rng.normal(0.0, 1.0, (64, 64))
    numpy.tanh(_a @ _a).sum(axis=1, keepdims=True).mean()
    numpy.exp(-numpy.maximum(_a, 0)).std()
    del _rng, _a

    if cfg.get("plots"):
        # Only in the zygote for cells that use it: every child of a zygote that holds matplotlib
        # costs more CPU to fork, run and end (docs/sandbox.md). Its font list
        # is copied in first, else the import rebuilds it (seconds). (Student processes have a
        # config folder of their own: child._private_matplotlib_dir.)
        font_cache, mpl_dir = cfg.get("font_cache"), os.environ.get("MPLCONFIGDIR")
        if font_cache and mpl_dir:
            import shutil

            os.makedirs(mpl_dir, exist_ok=True)
            try:
                shutil.copy(font_cache, os.path.join(mpl_dir, os.path.basename(font_cache)))
            except OSError:
                pass
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        except ImportError:
            pass
    import gc

    gc.collect()
    gc.freeze()     # children do not touch (and so copy) the zygote's objects when they collect
    ctrl.send(json.dumps({"ok": True, "pid": os.getpid(), "python": sys.version.split()[0]}).encode())
    Zygote(ctrl, cfg).loop()


