"""The trust boundary: the only code that starts or talks to a student process.

A SandboxHost keeps one long-lived "zygote" (initkit/_student_host.py) inside bubblewrap: numpy
and matplotlib are imported once, and each submission runs in a child forked from it, so a
submission costs a fork, not a Python start. The grader talks to that child over a socket, with
timeouts, and trusts nothing it sends: every reply is size-checked and decoded from JSON and .npy
(allow_pickle=False), never pickle. See docs/sandbox.md.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import _student_host as host_code

MAX_RESTARTS = 30           # student process restarts per session before calls fail at once
# A function that hit the call time limit this often is not called again in the session: an
# infinite loop would otherwise cost every one of its tests a full call_timeout. The tests run in
# a fixed order, so which calls are skipped is the same on every run.
MAX_TIMEOUTS_PER_FUNCTION = 2
ZYGOTE_START_TIMEOUT = 60.0
CONTROL_TIMEOUT = 20.0
SANDBOX_DIR = "/sandbox"    # where the host script is visible inside bubblewrap


@dataclass
class Limits:
    cell_timeout: float = 30.0      # wall seconds per notebook cell
    call_timeout: float = 5.0       # wall seconds per function call (ours take milliseconds)
    total_timeout: float = 120.0    # wall seconds per submission, all cells and calls
    cpu_seconds: int = 120          # RLIMIT_CPU of the student process
    memory_mb: int = 1024           # address-space allowance above the pre-imported zygote
    max_processes: int = 64         # RLIMIT_NPROC
    max_output_bytes: int = 65536   # stdout/stderr kept per cell (the rest discarded)
    max_file_bytes: int = 16 << 20  # RLIMIT_FSIZE and the sandbox tmpfs size
    max_message_bytes: int = 64 << 20  # largest reply accepted from the student


# ------------------------------------------------------------------------------------------------
# Exceptions and argument markers (shared with inprocess.py)

class StudentError(Exception):
    """The student's function raised. `traceback` shows student frames only."""

    def __init__(self, fn: str, exc_type: str, message: str, traceback: str = ""):
        self.fn, self.exc_type, self.message, self.traceback = fn, exc_type, message, traceback
        super().__init__(f"{fn}: {exc_type}: {message}" if message else f"{fn}: {exc_type}")


class StudentTimeout(Exception):
    def __init__(self, fn: str, seconds: float):
        self.fn, self.seconds = fn, seconds
        super().__init__(f"{fn}: did not finish within {seconds:g} s")


class BudgetExhausted(StudentTimeout):
    def __init__(self, fn: str, seconds: float):
        super().__init__(fn, seconds)
        self.args = (f"{fn}: not run: the submission used up its total time budget of {seconds:g} s",)

    def __str__(self):
        return self.args[0]


class RepeatedTimeout(StudentTimeout):
    """Raised without calling: the function already hit the time limit MAX_TIMEOUTS_PER_FUNCTION times."""

    def __init__(self, fn: str, seconds: float, times: int):
        super().__init__(fn, seconds)
        self.args = (f"{fn}: not run: it already exceeded the {seconds:g} s time limit "
                     f"{times} times in this submission",)

    def __str__(self):
        return self.args[0]


class StudentCrash(Exception):
    """The student process died (memory, os._exit, a signal) or broke the protocol."""

    def __init__(self, fn: str, reason: str):
        self.fn, self.reason = fn, reason
        super().__init__(f"{fn}: {reason}")


class SandboxStartError(RuntimeError):
    """The sandbox itself could not start (a set-up problem, not the submission's)."""


class RNG:
    """As an argument: becomes numpy.random.default_rng(seed) in the student process."""

    def __init__(self, seed: int):
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise TypeError(f"RNG seed must be a non-negative int, not {seed!r}")
        self.seed = seed

    def __repr__(self):
        return f"RNG({self.seed})"


class Handle:
    """An opaque reference to an object living in the student process; pass it back as an
    argument, or fetch() it. Valid only in its session, until the student process restarts."""

    __slots__ = ("_owner", "_generation", "_id", "type_name")

    def __init__(self, owner, generation: int, hid: int, type_name: str):
        self._owner, self._generation, self._id, self.type_name = owner, generation, hid, type_name

    def __repr__(self):
        return f"<Handle to a student {self.type_name} object>"


class ProtocolError(Exception):
    """A reply that is not what the protocol allows: treated as a crash of the student."""


# ------------------------------------------------------------------------------------------------
# Plain data across the boundary (grader side; also used by inprocess.py)

def encode_args(value, put_array, owner, generation: int, depth: int = 0):
    """Grader values -> the JSON structure of _student_host.decode. Raises TypeError for a value
    that cannot cross (it would be a grading bug, not the student's)."""
    import numpy as np

    if depth > host_code.MAX_DEPTH:
        raise TypeError("argument nested too deeply to send to the student")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, np.generic):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, RNG):
        return {"$": "rng", "seed": value.seed}
    if isinstance(value, Handle):
        if value._owner is not owner:
            raise ValueError("this handle belongs to another student session")
        if value._generation != generation:
            raise _StaleHandle()
        return {"$": "h", "id": value._id}
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return {"$": "nd", "i": put_array(value)}
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return {"$": "sc", "i": put_array(np.asarray(value))}
    if isinstance(value, list):
        return [encode_args(v, put_array, owner, generation, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [encode_args(v, put_array, owner, generation, depth + 1)
                                    for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only dicts with str keys can be sent to the student")
        return {"$": "dict", "v": {k: encode_args(v, put_array, owner, generation, depth + 1)
                                   for k, v in value.items()}}
    raise TypeError(f"cannot send a {type(value).__name__} to the student process "
                    "(plain data, RNG and Handle only)")


class _StaleHandle(Exception):
    pass


def decode_result(struct_, get_array, owner, generation: int, depth: int = 0):
    """A reply structure -> plain data and Handles. Strict: anything unexpected is a
    ProtocolError, because the other side is hostile."""
    if depth > host_code.MAX_DEPTH + 2:
        raise ProtocolError("reply nested too deeply")
    if struct_ is None or isinstance(struct_, (bool, int, float, str)):
        return struct_
    if isinstance(struct_, list):
        return [decode_result(v, get_array, owner, generation, depth + 1) for v in struct_]
    if not isinstance(struct_, dict):
        raise ProtocolError(f"unexpected {type(struct_).__name__} in reply")
    tag = struct_.get("$")
    keys = set(struct_)
    if tag == "tuple" and keys == {"$", "v"} and isinstance(struct_["v"], list):
        return tuple(decode_result(v, get_array, owner, generation, depth + 1) for v in struct_["v"])
    if tag == "dict" and keys == {"$", "v"} and isinstance(struct_["v"], dict):
        return {k: decode_result(v, get_array, owner, generation, depth + 1)
                for k, v in struct_["v"].items()}
    if tag in ("nd", "sc") and keys == {"$", "i"} and _is_int(struct_["i"]):
        arr = get_array(struct_["i"])
        if tag == "sc":
            if arr.shape != ():
                raise ProtocolError("a numpy scalar must be a 0-d array")
            return arr[()]
        return arr
    if (tag == "h" and keys == {"$", "id", "type"} and _is_int(struct_["id"])
            and isinstance(struct_["type"], str) and len(struct_["type"]) <= 100):
        return Handle(owner, generation, struct_["id"], struct_["type"])
    raise ProtocolError("malformed value in reply")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def load_npy(blob: bytes):
    """An .npy blob from the student, checked before numpy allocates anything."""
    import numpy as np

    try:
        arr = host_code.load_npy_fast(blob)
    except ValueError as exc:
        raise ProtocolError(f"malformed array in reply ({exc})") from None
    if arr is not None:
        return arr
    fp = io.BytesIO(bytes(blob))
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ProtocolError(f"unsupported .npy version {version}")
    except (ValueError, TypeError, SyntaxError) as exc:
        raise ProtocolError(f"malformed array in reply ({exc})") from None
    if dtype.hasobject:
        raise ProtocolError("object arrays are not accepted")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(blob) - fp.tell():
        raise ProtocolError("array data does not match its header")
    fp.seek(0)
    try:
        return np.load(fp, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ProtocolError(f"malformed array in reply ({exc})") from None


# ------------------------------------------------------------------------------------------------
# The host: one zygote per worker

def _isolation_mode() -> str:
    wanted = os.environ.get("INITKIT_SANDBOX", "auto").strip().lower()
    if wanted not in ("auto", "bubblewrap", "none"):
        raise SandboxStartError(f"INITKIT_SANDBOX={wanted!r}: expected auto, bubblewrap or none")
    if wanted == "none":
        return "none"
    if shutil.which("bwrap") is None:
        if wanted == "bubblewrap":
            raise SandboxStartError("INITKIT_SANDBOX=bubblewrap but bwrap is not installed "
                                    "(Debian/Ubuntu: apt-get install bubblewrap)")
        return "none"
    return "bubblewrap"


_warned_none = False


def _warn_no_isolation(reason: str):
    global _warned_none
    if not _warned_none:
        _warned_none = True
        warnings.warn(f"initkit sandbox WITHOUT namespace isolation ({reason}): student code runs "
                      "with resource limits and timeouts only; it can see the filesystem (hidden "
                      "tests included), the network and other processes. Install bubblewrap for "
                      "real isolation.", RuntimeWarning, stacklevel=3)


def _sandbox_uid() -> int:
    """An unprivileged uid for student code when the grader runs as root, one per host so that
    RLIMIT_NPROC counts only this host's student processes."""
    return 200000 + os.getpid() % 100000


def _python_paths() -> list[str]:
    """Directories the student's Python needs on sys.path besides the standard library."""
    import sysconfig

    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    for mod in ("numpy", "matplotlib"):
        try:
            spec = __import__("importlib.util").util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.origin:
            paths.append(str(Path(spec.origin).parent.parent))
    return list(dict.fromkeys(os.path.realpath(p) for p in paths if os.path.isdir(p)))


def _stdlib_paths() -> list[str]:
    return [p for p in sys.path if p and os.path.isdir(p) and "site-packages" not in p
            and os.path.realpath(p).startswith(os.path.realpath(sys.base_prefix))]


class SandboxHost:
    """One per worker process: a long-lived zygote; one StudentSession at a time."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.isolation = _isolation_mode()
        if self.isolation == "none":
            _warn_no_isolation("INITKIT_SANDBOX=none" if shutil.which("bwrap") else
                               "bubblewrap (bwrap) is not installed")
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._session: StudentSession | None = None
        self._closed = False
        self._start_zygote()

    # -- zygote life cycle --
    def _command(self, fd: int) -> tuple[list[str], dict, str]:
        lim = self.limits
        python = os.path.realpath(sys.executable)
        root = os.geteuid() == 0
        cfg = {"sys_path": _stdlib_paths() + _python_paths(),
               "memory_mb": lim.memory_mb, "cpu_seconds": lim.cpu_seconds,
               "max_processes": lim.max_processes, "max_file_bytes": lim.max_file_bytes,
               "max_output_bytes": lim.max_output_bytes,
               "max_message_bytes": lim.max_message_bytes}
        env = {"HOME": "/tmp", "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        script = os.path.realpath(host_code.__file__)
        if self.isolation == "none":
            self._scratch = tempfile.TemporaryDirectory(prefix="initkit-sandbox-")
            scratch = self._scratch.name
            os.chmod(scratch, 0o711)
            env["HOME"] = scratch
            env["MPLCONFIGDIR"] = os.path.join(scratch, ".zygote", "mpl")
            # As root, student code runs as an unprivileged uid that keeps only the capability to
            # read files (the Python installation may sit in a folder only root can enter): it
            # cannot write the grader's files, signal its processes or exceed RLIMIT_NPROC.
            cfg.update(scratch=scratch, pidns=False, uid=_sandbox_uid() if root else None,
                       keep_read_cap=root and not _world_readable(python, sys.base_prefix),
                       font_cache=_matplotlib_font_cache())
            cmd = [python, "-I", "-S", script, str(fd), json.dumps(cfg)]
            return cmd, env, scratch
        cfg.update(scratch="/tmp", pidns=True, uid=_sandbox_uid() if root else None)
        env["MPLCONFIGDIR"] = "/tmp/.zygote/mpl"
        cmd = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
        if root:
            # Without a user namespace the kernel still sees uid 0 (exempt from RLIMIT_NPROC),
            # so the child drops to an unprivileged uid instead: all namespaces but the user one.
            cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try"]
        else:
            cmd += ["--unshare-all"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += ["--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                cmd += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                cmd += ["--ro-bind", top, top]
        cmd += ["--ro-bind", "/etc", "/etc"]
        # The scratch tmpfs first: a Python installed under /tmp (a venv in a fresh checkout
        # there) is bound on top of it below, and the zygote's wipe leaves those folders alone.
        cmd += ["--perms", "1777", "--size", str(lim.max_file_bytes), "--tmpfs", "/tmp"]
        binds = [sys.base_prefix, sys.prefix, *(p for p in cfg["sys_path"])]
        cfg["keep"] = sorted({os.path.join("/tmp", Path(p).relative_to("/tmp").parts[0])
                              for p in map(os.path.realpath, binds)
                              if p.startswith("/tmp/") and Path(p).relative_to("/tmp").parts})
        made: set[str] = set()
        for path in _outermost(os.path.realpath(p) for p in binds):
            if path.startswith(("/usr/", "/etc/")) or path == "/usr":
                continue
            # bwrap would create the parents 0700: readable by our uid only.
            for parent in reversed(Path(path).parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", path, path]
        cmd += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "0755", "--dir", SANDBOX_DIR, "--ro-bind", script, f"{SANDBOX_DIR}/host.py"]
        cache = _matplotlib_font_cache()
        if cache:
            cmd += ["--ro-bind", cache, f"{SANDBOX_DIR}/mpl/{os.path.basename(cache)}"]
            cfg["font_cache"] = f"{SANDBOX_DIR}/mpl/{os.path.basename(cache)}"
        cmd += ["--remount-ro", "/", "--chdir", "/tmp",
                python, "-I", "-S", f"{SANDBOX_DIR}/host.py", str(fd), json.dumps(cfg)]
        return cmd, {}, "/tmp"

    def _start_zygote(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd, env, _ = self._command(theirs.fileno())
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
            raise SandboxStartError(f"the sandbox ({self.isolation}) did not start: "
                                    f"{detail or 'no error output'}; set INITKIT_SANDBOX=none to "
                                    "run without namespace isolation")
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

    # -- public --
    def open_session(self, cells) -> "StudentSession":
        if self._closed:
            raise RuntimeError("this SandboxHost is closed")
        if self._session is not None and not self._session.closed:
            raise RuntimeError("one StudentSession at a time per SandboxHost: close the previous one")
        self._session = StudentSession(self, list(cells))
        return self._session

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            self._session.close()
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


def _outermost(paths) -> list[str]:
    out: list[str] = []
    for p in sorted(set(paths)):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


def _world_readable(*paths: str) -> bool:
    for path in paths:
        p = Path(os.path.realpath(path))
        for d in [p, *p.parents]:
            try:
                if not os.stat(d).st_mode & 0o005:
                    return False
            except OSError:
                return False
    return True


def _matplotlib_font_cache() -> str | None:
    """The grader's matplotlib font list, copied into the sandbox so the zygote does not
    rebuild it (seconds) at every start."""
    try:
        import matplotlib

        folder = Path(matplotlib.get_cachedir())
    except Exception:  # noqa: BLE001 - matplotlib missing or misconfigured: just slower
        return None
    found = sorted(folder.glob("fontlist-*.json"))
    return str(found[-1]) if found else None


# ------------------------------------------------------------------------------------------------
# One submission

class _Timeout(Exception):
    pass


class _Dead(Exception):
    pass


_session_ids = itertools.count(1)


class StudentSession:
    """One submission's student process, seen from the grader."""

    def __init__(self, host: SandboxHost, cells):
        self._host = host
        self._limits = host.limits
        self._cells = [(c.index, c.source) for c in cells]
        self._skip: set[int] = set()
        self._errors: dict[int, dict] = {}
        self._sock: socket.socket | None = None
        self._generation = 0
        self._restarts = 0
        self._start_time = time.monotonic()
        self._deadline = self._start_time + self._limits.total_timeout
        self._timeouts: dict[str, int] = {}  # function name -> calls that hit call_timeout
        self._exhausted = False
        self._dead_reason: str | None = None
        self._sandbox_died = False
        self.closed = False
        self._start()

    @property
    def cell_errors(self) -> list[dict]:
        return [self._errors[k] for k in sorted(self._errors)]

    # -- process life cycle --
    def _start(self):
        """Spawn a child and run the cells, skipping those that hung or crashed before.
        A cell that hangs or crashes now is recorded, skipped, and the child started again."""
        while True:
            self._generation += 1
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._host._control({"op": "spawn", "cfg": {}}, fds=[theirs.fileno()])
            finally:
                theirs.close()
            self._sock = ours
            self._reader = host_code.BufferedReader(self._recv_into)
            todo = [(i, s) for i, s in self._cells if i not in self._skip]
            self._blobs = []
            try:
                self._send({"op": "run", "cells": todo}, [])
                for index, _src in todo:
                    header = self._receive(self._limits.cell_timeout, f"cell {index}",
                                           running_cell=index)
                    if header.get("ev") != "done" or header.get("cell") != index:
                        self._end_child(0.0)
                        raise _CellFailure(index, "crash", "the cell broke the student process's "
                                           "connection to the grader (unexpected message)")
                    err = header.get("error")
                    if err is not None and index not in self._errors:
                        message = _text(err.get("message")) if isinstance(err, dict) else ""
                        self._errors[index] = {"cell": index, "kind": "error",
                                               "message": message or "the cell raised an error"}
                if self._receive(self._limits.cell_timeout, "cells").get("ev") != "ready":
                    raise ProtocolError("unexpected message after the cells")
                self._dead_reason = None
                return
            except (_Timeout, _Dead, ProtocolError) as exc:
                self._end_child(0.0)
                self._dead_reason = f"the student process failed while running the cells: {exc}"
                return
            except _SandboxDied as exc:
                if self._restarts >= MAX_RESTARTS:
                    self._dead_reason = str(exc)
                    return
                self._restarts += 1
            except _CellFailure as failure:
                self._errors.setdefault(failure.index, {"cell": failure.index, "kind": failure.kind,
                                                        "message": failure.message})
                self._skip.add(failure.index)
                if self._exhausted:
                    self._dead_reason = "the submission used up its total time budget"
                    return
                if self._restarts >= MAX_RESTARTS:
                    self._dead_reason = (f"the student process crashed or hung {self._restarts + 1} "
                                         "times; no more restarts")
                    return
                self._restarts += 1

    def _receive(self, timeout: float, what: str, running_cell: int | None = None) -> dict:
        """The next frame header (and keeps blobs on self._blobs). Converts a timeout or a dead
        child during the cells into a _CellFailure, else re-raises."""
        try:
            header, self._blobs = self._recv_frame(timeout)
            return header
        except _Timeout as exc:
            status = self._end_child(0.0)
            if status is not None and not self._exhausted:
                # It died but a process it forked kept the socket open: a crash, not a hang.
                if running_cell is None:
                    raise _Dead(status) from None
                raise _CellFailure(running_cell, "crash", status) from None
            if running_cell is None:
                raise
            kind = "timeout"
            msg = (f"cell did not finish within {exc.args[0]:g} s" if not self._exhausted else
                   "cell stopped: the submission used up its total time budget")
            raise _CellFailure(running_cell, kind, msg) from None
        except (_Dead, ProtocolError) as exc:
            status = self._end_child(0.5)
            if running_cell is None:
                raise _Dead(_reason(exc, status)) from None
            if self._sandbox_died:
                raise _SandboxDied(status) from None     # not this cell's doing: run them again
            raise _CellFailure(running_cell, "crash", _reason(exc, status)) from None

    def _end_child(self, wait: float) -> str | None:
        """Kill the child and everything it started (via the zygote); how it ended, if known."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        reply = self._host._control({"op": "end", "wait": wait})
        self._sandbox_died = bool(reply.get("restarted"))
        return reply.get("status")

    def _recv_frame(self, timeout: float):
        now = time.monotonic()
        if self._deadline - now <= timeout:
            timeout = max(self._deadline - now, 0.0)
            budget_limited = True
        else:
            budget_limited = False
        deadline = now + timeout
        try:
            payload, head_len = struct.unpack(">QI", self._recv_exact(12, deadline))
            if payload > self._limits.max_message_bytes:
                raise ProtocolError(f"the student process sent a reply of {payload / 2**20:.0f} MB, "
                                    f"more than the {self._limits.max_message_bytes / 2**20:.0f} MB "
                                    "allowed")
            if head_len > payload - 4:
                raise ProtocolError("malformed reply frame")
            try:
                header = json.loads(self._recv_exact(head_len, deadline))
            except (ValueError, RecursionError):
                raise ProtocolError("malformed reply header") from None
            sizes = header.get("sizes") if isinstance(header, dict) else None
            if (not isinstance(sizes, list) or not all(_is_int(n) and n >= 0 for n in sizes)
                    or 4 + head_len + sum(sizes) != payload):
                raise ProtocolError("malformed reply frame")
            blobs = [self._recv_exact(n, deadline) for n in sizes]
        except _Timeout:
            if budget_limited:
                self._exhausted = True
                raise _Timeout(self._limits.total_timeout) from None
            raise _Timeout(timeout) from None
        return header, blobs

    def _recv_exact(self, n: int, deadline: float) -> bytearray:
        self._deadline_now = deadline
        try:
            return self._reader.read(n)
        except EOFError:
            raise _Dead("") from None

    def _recv_into(self, view) -> int:
        remaining = self._deadline_now - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        self._sock.settimeout(remaining)
        try:
            return self._sock.recv_into(view)
        except socket.timeout:
            raise _Timeout from None
        except OSError as exc:
            raise _Dead(f"connection lost ({exc})") from None

    def _send(self, header: dict, blobs: list):
        self._sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
        try:
            self._sock.sendall(host_code.pack(header, blobs))
        except socket.timeout:
            raise _Dead("the student process stopped reading its input") from None
        except OSError as exc:
            raise _Dead(f"connection lost ({exc})") from None

    def _ready(self, fn: str):
        """Before a request: budget left, and a live child (restarted if the last one died)."""
        if self.closed:
            raise RuntimeError("this StudentSession is closed")
        if self._exhausted or time.monotonic() >= self._deadline:
            self._exhausted = True
            raise BudgetExhausted(fn, self._limits.total_timeout)
        if self._sock is None:
            if self._dead_reason is not None:
                raise StudentCrash(fn, self._dead_reason)
            if self._restarts >= MAX_RESTARTS:
                self._dead_reason = (f"the student process crashed or hung {self._restarts} times; "
                                     "no more restarts")
                raise StudentCrash(fn, self._dead_reason)
            self._restarts += 1
            self._start()
            if self._sock is None:
                raise StudentCrash(fn, self._dead_reason or "the student process could not restart")

    # -- requests --
    def _request(self, fn: str, header: dict, blobs: list):
        """Send one request and wait for its reply; returns the decoded value."""
        self._send_or_crash(fn, header, blobs)
        try:
            reply = self._receive(self._limits.call_timeout, fn)
        except _Timeout as exc:
            if self._exhausted:
                raise BudgetExhausted(fn, self._limits.total_timeout) from None
            self._timeouts[fn] = self._timeouts.get(fn, 0) + 1
            raise StudentTimeout(fn, exc.args[0]) from None
        except _Dead as exc:
            raise StudentCrash(fn, str(exc)) from None
        blobs_in = self._blobs
        try:
            return self._interpret(fn, reply, blobs_in)
        except ProtocolError as exc:
            self._end_child(0.0)
            raise StudentCrash(fn, f"invalid reply from the student process: {exc}") from None

    def _send_or_crash(self, fn, header, blobs):
        try:
            self._send(header, blobs)
        except _Dead as exc:
            status = self._end_child(0.5)
            raise StudentCrash(fn, _reason(exc, status)) from None

    def _interpret(self, fn: str, reply: dict, blobs: list):
        if reply.get("ok") is True and "v" in reply:
            used = set()

            def get_array(i):
                if not 0 <= i < len(blobs) or i in used:
                    raise ProtocolError("bad array reference")
                used.add(i)
                return load_npy(blobs[i])

            try:
                return decode_result(reply["v"], get_array, self, self._generation)
            except RecursionError:
                raise ProtocolError("reply nested too deeply") from None
        if reply.get("ok") is False and isinstance(reply.get("err"), dict):
            err = reply["err"]
            raise StudentError(fn, _text(err.get("type"), 200) or "Exception",
                               _text(err.get("message")), _text(err.get("traceback")))
        raise ProtocolError("malformed reply")

    def _encode(self, fn: str, value):
        blobs: list[bytes] = []

        def put_array(arr):
            blobs.append(host_code.npy_bytes(arr))
            return len(blobs) - 1

        try:
            return encode_args(value, put_array, self, self._generation), blobs
        except _StaleHandle:
            raise StudentCrash(fn, "this handle is from before the student process was restarted "
                                   "(after a crash or timeout); it is no longer valid") from None

    def has(self, name: str) -> bool:
        self._ready(name)
        return bool(self._request(name, {"op": "has", "name": name}, []))

    def _call(self, fn: str, args, kwargs, keep: bool):
        if not isinstance(fn, str):
            raise TypeError("fn must be the function's name")
        self._ready(fn)
        if self._timeouts.get(fn, 0) >= MAX_TIMEOUTS_PER_FUNCTION:
            raise RepeatedTimeout(fn, self._limits.call_timeout, self._timeouts[fn])
        struct_, blobs = self._encode(fn, {"a": list(args), "k": dict(kwargs)})
        header = {"op": "call", "fn": fn, "args": struct_["v"]["a"], "kwargs": struct_["v"]["k"],
                  "keep": keep}
        return self._request(fn, header, blobs)

    def call(self, fn: str, *args, **kwargs):
        return self._call(fn, args, kwargs, keep=False)

    def call_keep(self, fn: str, *args, **kwargs) -> Handle:
        result = self._call(fn, args, kwargs, keep=True)
        if not isinstance(result, Handle):
            raise StudentCrash(fn, "invalid reply from the student process: expected a handle")
        return result

    def fetch(self, handle: Handle, key=None):
        if not isinstance(handle, Handle):
            raise TypeError("fetch() takes a Handle")
        what = f"fetch({handle.type_name})"
        self._ready(what)
        struct_, blobs = self._encode(what, {"h": handle} if key is None else {"h": handle, "k": key})
        header = {"op": "fetch", "h": struct_["v"]["h"]["id"]}
        if key is not None:
            header["key"] = struct_["v"]["k"]
        return self._request(what, header, blobs)

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        try:
            self._host._control({"op": "end", "wait": 0.0})
        except SandboxStartError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _SandboxDied(Exception):
    pass


class _CellFailure(Exception):
    def __init__(self, index: int, kind: str, message: str):
        super().__init__(message)
        self.index, self.kind, self.message = index, kind, message


def _reason(exc: Exception, status: str | None) -> str:
    text = str(exc)
    if status:
        return status if not text else f"{status}; {text}"
    return text or "the student process died"


def _text(value, limit: int = 20000) -> str:
    return value[:limit] if isinstance(value, str) else ""
