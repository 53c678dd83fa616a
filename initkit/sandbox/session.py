"""One submission's student process, seen from the grader: run the cells, then answer calls.

Every reply is read with wire.read_reply (sizes checked before anything is allocated) and
decoded with wire.decode_reply (JSON and .npy only, strictly); time limits are enforced here.
After a crash or timeout the student process is restarted on the next call, re-running the cells
but skipping those that hung or crashed.
"""

from __future__ import annotations

import itertools
import math
import select
import socket
import time

from .errors import (BudgetExhausted, RepeatedTimeout, SandboxStartError, StudentCrash, StudentError,
                     StudentTimeout)
from .inside.npy import npy_bytes
from .inside.wire import (BufferedReader, Handle, ProtocolError, StaleHandle, decode_reply,
                          encode_args, pack, read_reply, text)
from .limits import MAX_RESTARTS, MAX_TIMEOUTS_PER_FUNCTION


class _Timeout(Exception):
    pass


class _Dead(Exception):
    pass


_request_ids = itertools.count(1)


class StudentSession:
    """One submission's student process, seen from the grader."""

    def __init__(self, host, cells):
        """`host`: the SandboxHost whose zygote forks this submission's process."""
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
            self._connect(ours)
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
                        message = text(err.get("message")) if isinstance(err, dict) else ""
                        self._errors[index] = {"cell": index, "kind": "error",
                                               "message": message or "the cell raised an error"}
                if self._receive(self._limits.cell_timeout, "cells").get("ev") != "ready":
                    raise ProtocolError("unexpected message after the cells")
                self._dead_reason = None
                return
            except (_Timeout, _Dead, ProtocolError) as exc:
                if self._sock is not None:          # not ended yet (_receive ends it on failure)
                    self._end_child(0.0)
                if self._sandbox_died and self._restarts < MAX_RESTARTS:
                    self._restarts += 1         # the zygote died under it (e.g. killed as the
                    continue                    # child started): not the cells' doing, run again
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
            return read_reply(lambda n: self._recv_exact(n, deadline), self._limits.max_message_bytes)
        except _Timeout:
            if budget_limited:
                self._exhausted = True
                raise _Timeout(self._limits.total_timeout) from None
            raise _Timeout(timeout) from None

    def _recv_exact(self, n: int, deadline: float) -> bytearray:
        self._deadline_now = deadline
        try:
            return self._reader.read(n)
        except EOFError:
            raise _Dead("") from None

    def _connect(self, sock: socket.socket):
        """Use `sock` for the new child. Non-blocking for good, with poll objects made once: a
        timeout on the socket itself costs two more system calls per send or receive."""
        sock.setblocking(False)
        self._sock = sock
        self._reader = BufferedReader(self._recv_into)
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)
        self._writable = None

    def _recv_into(self, view) -> int:
        while True:
            remaining = self._deadline_now - time.monotonic()
            if remaining <= 0:
                raise _Timeout
            if not self._readable.poll(math.ceil(min(remaining, 3600.0) * 1000)):
                continue                # woke early: the loop checks the deadline again
            try:
                return self._sock.recv_into(view)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise _Dead(f"connection lost ({exc})") from None

    def _send(self, header: dict, blobs: list):
        data = memoryview(pack(header, blobs))
        try:
            while data:
                try:
                    data = data[self._sock.send(data):]
                    continue
                except BlockingIOError:
                    pass
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise _Dead("the student process stopped reading its input")
                if self._writable is None:
                    self._writable = select.poll()
                    self._writable.register(self._sock, select.POLLOUT)
                self._writable.poll(math.ceil(min(remaining, 3600.0) * 1000))
        except OSError as exc:
            raise _Dead(f"connection lost ({exc})") from None

    def _ready(self, fn: str):
        """Before a request: budget left, and a live child (restarted if the last one died)."""
        if self.closed:
            raise RuntimeError("this StudentSession is closed")
        if self._exhausted or time.monotonic() >= self._deadline:
            self._exhausted = True
            raise BudgetExhausted(fn, self._limits.total_timeout)
        if self._sock is not None and self._unsolicited_input():
            self._end_child(0.0)            # out of step: the next reply could be an old one
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

    def _unsolicited_input(self) -> bool:
        """Between requests the child sends nothing: bytes waiting now mean student code wrote to
        the connection itself (a forged reply before its real one, say), so the next reply read
        could be an old one. (A closed connection is left to the request, which reports it.)"""
        if self._reader.buffered:
            return True
        if not self._readable.poll(0):
            return False
        try:
            return bool(self._sock.recv(1, socket.MSG_PEEK))
        except OSError:         # nothing after all, or a closed connection
            return False

    # -- requests --
    def _request(self, fn: str, header: dict, blobs: list):
        """Send one request and wait for its reply; returns the decoded value. Each request
        carries a new id that the reply must echo: a frame the student's code wrote itself
        cannot stand in for the reply to a later call."""
        self._rid = rid = next(_request_ids)
        self._send_or_crash(fn, {**header, "rid": rid}, blobs)
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
            if reply.get("rid") != rid:
                raise ProtocolError("a reply that answers another request")
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
        kind, value = decode_reply(reply, blobs, self, self._generation)
        if kind == "raised":
            raise StudentError(fn, value["type"], value["message"], value["traceback"])
        return value

    def _encode(self, fn: str, value):
        blobs: list[bytes] = []

        def put_array(arr):
            blobs.append(npy_bytes(arr))
            return len(blobs) - 1

        try:
            return encode_args(value, put_array, self, self._generation), blobs
        except StaleHandle:
            raise StudentCrash(fn, "this handle is from before the student process was restarted "
                                   "(after a crash or timeout); it is no longer valid") from None

    def has(self, name: str) -> bool:
        self._ready(name)
        found = self._request(name, {"op": "has", "name": name}, [])
        if type(found) is not bool:
            self._end_child(0.0)
            raise StudentCrash(name, "invalid reply from the student process: expected True or False")
        return found

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


