"""The student process of one submission: isolate, limit, run the cells, answer calls.

Forked by the zygote (zygote.py) for each submission; it talks to the grader over its own socket
in the wire format (wire.py) and runs student code (execution.py).
"""

from __future__ import annotations

import os
import signal
import sys
import types

from .execution import BoundedWriter, error_info, new_namespace, run_cell
from .npy import load_npy_trusted, npy_bytes
from .wire import BufferedReader, ResultTooLarge, decode_args, encode, pack, recv_frame


class Child:
    def __init__(self, sock, cfg: dict):
        self.sock, self.cfg = sock, cfg
        self.ns = new_namespace()
        self.sources: dict[int, str] = {}     # the cells run, for tracebacks' lines
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
            self.rid = header.get("rid")       # echoed in the reply: the grader matches them
            if op == "run":
                for index, source in header["cells"]:
                    self._capture()
                    err = run_cell(self.ns, index, source, self.sources)
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
                args = decode_args(header["args"], get_array, get_handle)
                kwargs = decode_args(header["kwargs"], get_array, get_handle)
                result = func(*args, **kwargs)
            else:
                result = self.handles[header["h"]]
                if "key" in header:
                    result = result[decode_args(header["key"], get_array, get_handle)]
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
            frame = pack({"ok": True, "rid": self.rid, "v": enc}, blobs)
            if len(frame) > limit:
                raise ResultTooLarge(f"the result is too large to send back ({len(frame) / 2**20:.0f} MB; "
                                     f"the limit is {limit / 2**20:.0f} MB)")
        except BaseException as exc:  # noqa: BLE001 - e.g. MemoryError while encoding
            self._send_error(exc)
            return
        self.send(frame)

    def _send_error(self, exc):
        try:
            info = error_info(exc, self.sources)
        except BaseException:  # noqa: BLE001
            info = {"type": "Exception", "message": "unprintable error", "traceback": ""}
        self.send(pack({"ok": False, "rid": self.rid, "err": info}, []))


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


def _private_matplotlib_dir(workdir: str, font_cache: str | None) -> str:
    """matplotlib's config folder for this submission only (wiped with it), with the grader's font
    list copied in (else importing matplotlib rebuilds it, seconds): a file an earlier
    submission left in a shared one (a matplotlibrc, a forged font list) must never be read by a
    later one that imports matplotlib."""
    import shutil

    mpl = os.path.join(workdir, ".matplotlib")
    os.makedirs(mpl, mode=0o700)
    if font_cache:
        try:
            shutil.copyfile(font_cache, os.path.join(mpl, os.path.basename(font_cache)))
        except OSError:
            pass
    os.environ["MPLCONFIGDIR"] = mpl
    return mpl


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
        mpl = _private_matplotlib_dir(workdir, cfg.get("font_cache"))
        if uid is not None:
            for path in (workdir, mpl, *(os.path.join(mpl, f) for f in os.listdir(mpl))):
                os.chown(path, uid, uid)
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


