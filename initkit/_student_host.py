"""The student side of the trust boundary: runs inside the sandbox, never in the grader.

Standalone on purpose: inside the sandbox the repository (and so the initkit package) is not
visible, so this file imports only the standard library and numpy. It is run as a script:

    python -I -S host.py ZYGOTE_FD CONFIG_JSON

The process becomes the "zygote": it pre-imports numpy (and matplotlib with Agg), then waits on
its control socket. For each submission the grader sends a fresh socket; the zygote forks a child
that drops privileges, sets resource limits, runs the notebook's cells and then answers calls on
that socket. When the grader ends a submission, the zygote kills every process but itself (and the
namespace's pid 1) and wipes the scratch directory, so nothing of a submission outlives it.

Wire format (child <-> grader), one frame per message:
    8-byte big-endian payload length, then 4-byte JSON header length, the JSON header, and the
    binary blobs listed in header["sizes"] (arrays as .npy, never pickle).
Values in a header use JSON, with tagged objects for what JSON lacks:
    {"$": "tuple", "v": [...]}   {"$": "dict", "v": {...}}   {"$": "nd", "i": blob}
    {"$": "sc", "i": blob} (numpy scalar as a 0-d array)   {"$": "h", "id": n, "type": name}
    {"$": "rng", "seed": n} (arguments only)
The encoder and the argument decoder here are also used by initkit.inprocess, so both ways of
running a student give identical results.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import traceback
import types

MAX_DEPTH = 64              # deeper structures come back as handles
MAX_INT_BITS = 8192         # larger ints come back as handles (JSON readers refuse huge ints)
CELL_PREFIX = "<cell "      # code compiled from cell k has the file name "<cell k>"


class ResultTooLarge(Exception):
    """A result exceeds max_message_bytes; reported to the grader as a StudentError."""


# --------------------------------------------------------------------------------------------
# Student code execution (shared with inprocess.py)

class BoundedWriter(io.TextIOBase):
    """A text stream keeping the first `limit` characters and counting the rest, so printing
    hundreds of megabytes costs time (bounded by the timeouts) but no memory."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


def student_traceback(exc: BaseException) -> str:
    """The traceback restricted to frames of student cells (never grader or host frames)."""
    if isinstance(exc, SyntaxError) and (exc.filename or "").startswith(CELL_PREFIX):
        return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if (f.filename or "").startswith(CELL_PREFIX)]
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines).rstrip()


def new_namespace() -> dict:
    """A fresh module namespace for the cells, like a notebook's (`__name__ == "__main__"`)."""
    return {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}


def run_cell(ns: dict, index: int, source: str) -> dict | None:
    """Run one cell in `ns`; None if it succeeded, else {"cell", "kind": "error", "message"}."""
    try:
        code = compile(source, f"{CELL_PREFIX}{index}>", "exec")
        exec(code, ns)
    except BaseException as exc:  # noqa: BLE001 - a notebook records every cell error and goes on
        return {"cell": index, "kind": "error", "message": student_traceback(exc)}
    return None


def error_info(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": _safe_str(exc),
            "traceback": student_traceback(exc)}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:10000]
    except Exception:  # noqa: BLE001 - a student's __str__ may raise
        return f"<{type(exc).__name__} with an unprintable message>"


# --------------------------------------------------------------------------------------------
# Plain data (shared with inprocess.py)

def encode(value, put_array, keep, budget: list, depth: int = 0):
    """`value` as a JSON structure. Arrays go through put_array(ndarray) -> blob index, anything
    that is not plain data through keep(obj) -> handle id. budget[0] is the number of array bytes
    still allowed; exceeding it raises ResultTooLarge."""
    import numpy as np

    t = type(value)
    if value is None or t is bool or t is str or t is float:
        return value
    if t is int and value.bit_length() <= MAX_INT_BITS:
        return value
    if depth < MAX_DEPTH:
        if t is list:
            return [encode(v, put_array, keep, budget, depth + 1) for v in value]
        if t is tuple:
            return {"$": "tuple", "v": [encode(v, put_array, keep, budget, depth + 1) for v in value]}
        if t is dict and all(type(k) is str for k in value):
            return {"$": "dict", "v": {k: encode(v, put_array, keep, budget, depth + 1)
                                       for k, v in value.items()}}
    if t is np.ndarray and not value.dtype.hasobject:
        _charge(budget, value.nbytes)
        return {"$": "nd", "i": put_array(value)}
    if isinstance(value, np.generic) and not value.dtype.hasobject:
        return {"$": "sc", "i": put_array(np.asarray(value))}
    return {"$": "h", "id": keep(value), "type": t.__name__[:100]}


def _charge(budget: list, nbytes: int):
    budget[0] -= nbytes
    if budget[0] < 0:
        raise ResultTooLarge(f"the result is too large to send back (more than "
                             f"{budget[1] / 2**20:.0f} MB of array data)")


def decode(struct_, get_array, get_handle):
    """Arguments from the grader: plain data, RNG seeds and handles become objects again."""
    import numpy as np

    if isinstance(struct_, list):
        return [decode(v, get_array, get_handle) for v in struct_]
    if not isinstance(struct_, dict):
        return struct_
    tag = struct_["$"]
    if tag == "tuple":
        return tuple(decode(v, get_array, get_handle) for v in struct_["v"])
    if tag == "dict":
        return {k: decode(v, get_array, get_handle) for k, v in struct_["v"].items()}
    if tag == "nd":
        return get_array(struct_["i"])
    if tag == "sc":
        return get_array(struct_["i"])[()]
    if tag == "rng":
        return np.random.default_rng(struct_["seed"])
    if tag == "h":
        return get_handle(struct_["id"])
    raise ValueError(f"unknown tag {tag!r}")


# --------------------------------------------------------------------------------------------
# Frames

def pack(header: dict, blobs: list) -> bytes:
    header = dict(header, sizes=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":")).encode()
    payload = 4 + len(head) + sum(len(b) for b in blobs)
    return b"".join([struct.pack(">QI", payload, len(head)), head, *blobs])


NPY_MAGIC = b"\x93NUMPY\x01\x00"
# The header numpy itself writes for a simple (non-structured) dtype. Only this form is read by
# the fast path; anything else goes through numpy.load.
NPY_HEADER = re.compile(r"\{'descr': '([<>|=]?[A-Za-z]\d*(?:\[\w+\])?)', 'fortran_order': "
                        r"(True|False), 'shape': \(((?:\d+, ?)*\d*)\), \} *\n\Z")


_NPY_PREFIXES: dict = {}   # (dtype, shape, fortran) -> magic + header, as written
_NPY_HEADERS: dict = {}    # header bytes -> (dtype, shape, count, order), as read


def npy_bytes(arr) -> bytes:
    """`arr` in .npy format 1.0, as numpy.save writes it (written directly for simple dtypes:
    numpy's writer costs tens of microseconds per array, which adds up over a batch)."""
    import numpy as np

    dtype = arr.dtype
    if dtype.fields is None and dtype.subdtype is None and not dtype.hasobject:
        fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
        key = (dtype.str, arr.shape, fortran)
        prefix = _NPY_PREFIXES.get(key)
        if prefix is None:
            header = (f"{{'descr': {dtype.str!r}, 'fortran_order': {fortran}, "
                      f"'shape': {tuple(int(n) for n in arr.shape)!r}, }}")
            header += " " * (-(len(NPY_MAGIC) + 2 + len(header) + 1) % 64) + "\n"
            if len(header) < 65536:
                prefix = NPY_MAGIC + struct.pack("<H", len(header)) + header.encode("latin1")
                if len(_NPY_PREFIXES) < 4096:
                    _NPY_PREFIXES[key] = prefix
        if prefix is not None:
            return prefix + arr.tobytes(order="F" if fortran else "C")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def load_npy_fast(blob):
    """The array in an .npy blob written in numpy's standard form for a simple dtype, or None if
    the blob is in another form (the caller then uses numpy.load). Raises ValueError for a blob
    whose data does not match its header, or an object dtype. Never unpickles."""
    import numpy as np

    if len(blob) < 10 or bytes(blob[:8]) != NPY_MAGIC:
        return None
    (hlen,) = struct.unpack("<H", blob[8:10])
    start = 10 + hlen
    header = bytes(blob[10:start])
    parsed = _NPY_HEADERS.get(header)
    if parsed is None:
        match = NPY_HEADER.match(header.decode("latin1"))
        if match is None:
            return None
        try:
            dtype = np.dtype(match.group(1))
        except TypeError:
            raise ValueError(f"unknown dtype {match.group(1)!r}") from None
        if dtype.hasobject:
            raise ValueError("object arrays are not accepted")
        shape = tuple(int(n) for n in match.group(3).split(",") if n.strip())
        count = 1
        for n in shape:
            count *= n
        parsed = (dtype, shape, count, "F" if match.group(2) == "True" else "C")
        if len(_NPY_HEADERS) < 4096:
            _NPY_HEADERS[header] = parsed
    dtype, shape, count, order = parsed
    if count * dtype.itemsize != len(blob) - start:
        raise ValueError("array data does not match its header")
    return np.frombuffer(blob, dtype=dtype, count=count, offset=start).reshape(shape, order=order)


def load_npy_trusted(blob):
    import numpy as np

    arr = load_npy_fast(blob)
    if arr is None:
        arr = np.load(io.BytesIO(bytes(blob)), allow_pickle=False)
    return arr


class BufferedReader:
    """Exact-size reads from a socket with few system calls: small frames usually arrive in one
    recv, and every recv costs a wake-up (tens of microseconds in a VM)."""

    CHUNK = 65536

    def __init__(self, recv_into):
        self.recv_into = recv_into        # recv_into(memoryview) -> bytes read; 0 at EOF
        self.buf = bytearray()

    def read(self, n: int) -> bytearray:
        out = bytearray(n)
        got = min(len(self.buf), n)
        out[:got] = self.buf[:got]
        del self.buf[:got]
        view = memoryview(out)
        while got < n:
            if n - got >= self.CHUNK:
                k = self.recv_into(view[got:])
                if k == 0:
                    raise EOFError
                got += k
                continue
            chunk = bytearray(self.CHUNK)
            k = self.recv_into(memoryview(chunk))
            if k == 0:
                raise EOFError
            take = min(k, n - got)
            out[got:got + take] = chunk[:take]
            self.buf += chunk[take:k]
            got += take
        return out


def recv_frame(reader: BufferedReader) -> tuple[dict, list]:
    """One message from the grader (trusted; the grader validates what comes the other way)."""
    payload, head_len = struct.unpack(">QI", reader.read(12))
    header = json.loads(reader.read(head_len))
    blobs = [reader.read(n) for n in header.get("sizes", [])]
    return header, blobs


# --------------------------------------------------------------------------------------------
# The child: one submission

class Child:
    def __init__(self, sock, cfg: dict):
        self.sock, self.cfg = sock, cfg
        self.ns = new_namespace()
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.pid = os.getpid()
        self.reader = BufferedReader(sock.recv_into)

    def send(self, data: bytes):
        """Only the submission's main process answers: a process the student forked that comes
        back into this loop (its fork() failed later, say) exits instead of writing."""
        if os.getpid() != self.pid:
            os._exit(0)
        self.sock.sendall(data)

    def serve(self):
        module = types.ModuleType("__main__")
        module.__dict__.update(self.ns)
        self.ns = module.__dict__          # so pickle, dataclasses and inspect find __main__
        sys.modules["__main__"] = module
        while True:
            try:
                header, blobs = recv_frame(self.reader)
            except (EOFError, OSError):
                os._exit(0)
            if os.getpid() != self.pid:
                os._exit(0)
            op = header.get("op")
            if op == "run":
                for index, source in header["cells"]:
                    self._capture()
                    err = run_cell(self.ns, index, source)
                    self.send(pack({"ev": "done", "cell": index, "error": err}, []))
                self.send(pack({"ev": "ready"}, []))
            elif op == "has":
                self._reply_value(callable(self.ns.get(header["name"])), keep_all=False)
            elif op in ("call", "fetch"):
                self._call(op, header, blobs)
            else:
                os._exit(0)

    def _capture(self):
        limit = self.cfg["max_output_bytes"]
        sys.stdout = BoundedWriter(limit)
        sys.stderr = BoundedWriter(limit)

    def _call(self, op, header, blobs):

        self._capture()
        fn = header.get("fn", "fetch")
        try:
            def get_array(i):
                return load_npy_trusted(blobs[i])

            def get_handle(hid):
                return self.handles[hid]

            if op == "call":
                func = self.ns.get(fn)
                if not callable(func):
                    raise NameError(f"name {fn!r} is not defined (or not a function) in the notebook")
                args = decode(header["args"], get_array, get_handle)
                kwargs = decode(header["kwargs"], get_array, get_handle)
                result = func(*args, **kwargs)
            else:
                result = self.handles[header["h"]]
                if "key" in header:
                    result = result[decode(header["key"], get_array, get_handle)]
        except BaseException as exc:  # noqa: BLE001 - every student failure is reported
            self._send_error(exc)
            return
        self._reply_value(result, keep_all=header.get("keep", False))

    def _keep(self, obj) -> int:
        hid = self.next_handle
        self.next_handle += 1
        self.handles[hid] = obj
        return hid

    def _reply_value(self, value, keep_all: bool):
        limit = self.cfg["max_message_bytes"]
        blobs: list[bytes] = []

        def put_array(arr):
            blobs.append(npy_bytes(arr))
            return len(blobs) - 1

        try:
            if keep_all:
                enc = {"$": "h", "id": self._keep(value), "type": type(value).__name__[:100]}
            else:
                enc = encode(value, put_array, self._keep, [limit, limit])
            frame = pack({"ok": True, "v": enc}, blobs)
            if len(frame) > limit:
                raise ResultTooLarge(f"the result is too large to send back ({len(frame) / 2**20:.0f} MB; "
                                     f"the limit is {limit / 2**20:.0f} MB)")
        except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while encoding
            self._send_error(exc)
            return
        self.send(frame)

    def _send_error(self, exc):
        try:
            info = error_info(exc)
        except BaseException:  # noqa: BLE001
            info = {"type": "Exception", "message": "unprintable error", "traceback": ""}
        self.send(pack({"ok": False, "err": info}, []))


# --------------------------------------------------------------------------------------------
# The zygote

def _prctl(option: int, arg: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(option, arg, 0, 0, 0)


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_KEEPCAPS = 1, 4, 8
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
CAP_DAC_READ_SEARCH = 2


def _keep_only_capability(cap: int) -> None:
    """Effective and permitted capabilities = {cap} (after setuid with PR_SET_KEEPCAPS). Not
    inherited across exec: programs the student starts have none."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)         # _LINUX_CAPABILITY_VERSION_3, self
    data = (ctypes.c_uint32 * 6)(1 << cap, 1 << cap, 0, 0, 0, 0)  # effective, permitted, inheritable
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _vmsize() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _user_process_count(uid: int) -> int:
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def _start_child(sock, cfg: dict, workdir: str):
    """In the forked child: isolate, limit, then run the submission. Never returns."""
    import resource

    try:
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, sock.fileno())
        os.closerange(sock.fileno() + 1, 65536)
        os.makedirs(workdir, mode=0o700)
        uid = cfg.get("uid")
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chdir(workdir)
        os.environ["PWD"] = workdir
        mem = cfg["memory_mb"] * 2**20
        nproc_base = 0
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            nproc_base = _user_process_count(uid)
        else:
            nproc_base = _user_process_count(os.getuid())
        limits = [
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_CPU, cfg["cpu_seconds"]),
            (resource.RLIMIT_FSIZE, cfg["max_file_bytes"]),
            (resource.RLIMIT_NOFILE, 256),
            (resource.RLIMIT_NPROC, nproc_base + cfg["max_processes"]),
            (resource.RLIMIT_AS, _vmsize() + mem),
        ]
        for which, value in limits:
            resource.setrlimit(which, (value, value))
        if uid is not None:
            if cfg.get("keep_read_cap"):
                _prctl(PR_SET_KEEPCAPS, 1)
            os.setuid(uid)      # after the limits: an unprivileged process cannot raise them again
            if cfg.get("keep_read_cap"):
                _keep_only_capability(CAP_DAC_READ_SEARCH)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        Child(sock, cfg).serve()
    except BaseException:  # noqa: BLE001 - the grader sees the closed socket as a crash
        pass
    os._exit(70)


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
    font_cache, mpl_dir = cfg.get("font_cache"), os.environ.get("MPLCONFIGDIR")
    if font_cache and mpl_dir:
        import shutil

        os.makedirs(mpl_dir, exist_ok=True)
        try:
            shutil.copy(font_cache, os.path.join(mpl_dir, os.path.basename(font_cache)))
        except OSError:
            pass
    import numpy  # pre-imported once, shared copy-on-write by every child

    # Warm what every submission uses (random generators, matmul, reductions), so the lazy set-up
    # happens once here instead of in each child's first call.
    _rng = numpy.random.default_rng(0)
    _a = _rng.standard_normal((64, 64)) * _rng.normal(0.0, 1.0, (64, 64))
    numpy.tanh(_a @ _a).sum(axis=1, keepdims=True).mean()
    numpy.exp(-numpy.maximum(_a, 0)).std()
    del _rng, _a

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


if __name__ == "__main__":
    zygote_main(int(sys.argv[1]), json.loads(sys.argv[2]))
