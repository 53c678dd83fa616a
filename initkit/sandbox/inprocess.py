"""InProcessStudent: the StudentSession interface with the cells exec'd in the grader's process.

NO ISOLATION: student code can change numpy, the grader and the files. Use it only as the
benchmark's floor and for fast tests of trusted notebooks, never to grade untrusted code.

Results follow exactly the sandbox's rules (the same encoder and decoders, with arrays copied
instead of serialized), so a check gives the same answer either way: plain data comes back as
fresh copies, anything else as a Handle; arguments are copied in, RNG(seed) becomes
numpy.random.default_rng(seed), Handles become their objects.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time

from .errors import BudgetExhausted, StudentCrash, StudentError, StudentTimeout
from .inside import execution
from .inside.wire import (Handle, ProtocolError, ResultTooLarge, StaleHandle, decode_args,
                          decode_result, encode, encode_args)
from .limits import Limits


class _Alarm(BaseException):
    """Raised into student code by SIGALRM when a call overruns (main thread only)."""


class InProcessStudent:
    """Same has/call/call_keep/fetch/close/cell_errors and exceptions as a sandbox session.

    Timeouts work only in the main thread (SIGALRM); a crash (os._exit) takes the grader with it.
    """

    def __init__(self, cells, limits: Limits | None = None):
        self._limits = limits or Limits()
        self._deadline = time.monotonic() + self._limits.total_timeout
        self._ns = execution.new_namespace()
        self._sources: dict[int, str] = {}     # the cells run, for tracebacks' lines
        self._handles: dict[int, object] = {}
        self._next = 1
        self._errors: list[dict] = []
        self.closed = False
        for cell in cells:
            with self._captured(), self._alarm(self._limits.cell_timeout) as fired:
                try:
                    err = execution.run_cell(self._ns, cell.index, cell.source, self._sources)
                except _Alarm:
                    err = None
                    fired[0] = True
            if fired[0]:
                err = {"cell": cell.index, "kind": "timeout",
                       "message": f"cell did not finish within {self._limits.cell_timeout:g} s"}
            if err is not None:
                self._errors.append(err)

    @property
    def cell_errors(self) -> list[dict]:
        return list(self._errors)

    # -- helpers --
    @contextlib.contextmanager
    def _captured(self):
        """Student prints go to a bounded buffer, not the grader's stdout."""
        limit = self._limits.max_output_bytes
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = execution.BoundedWriter(limit), execution.BoundedWriter(limit)
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old

    @contextlib.contextmanager
    def _alarm(self, seconds: float):
        fired = [False]
        seconds = min(seconds, self._deadline - time.monotonic())
        usable = threading.current_thread() is threading.main_thread() and seconds > 0
        if not usable:
            yield fired
            return

        def ring(_sig, _frame):
            fired[0] = True
            raise _Alarm()

        previous = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield fired
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _keep(self, obj) -> int:
        hid = self._next
        self._next += 1
        self._handles[hid] = obj
        return hid

    def _ready(self, fn: str):
        if self.closed:
            raise RuntimeError("this InProcessStudent is closed")
        if time.monotonic() >= self._deadline:
            raise BudgetExhausted(fn, self._limits.total_timeout)

    def _to_student(self, fn: str, value):
        """Grader value -> student object, through the same structure the sandbox sends."""
        arrays: list = []

        def put_array(arr):
            arrays.append(arr.copy(order="K"))
            return len(arrays) - 1

        try:
            struct_ = encode_args(value, put_array, self, 0)
        except StaleHandle:
            raise StudentCrash(fn, "stale handle") from None
        return decode_args(struct_, lambda i: arrays[i], self._handles.__getitem__)

    def _from_student(self, fn: str, value, keep: bool):
        """Student object -> plain data / Handles, by the sandbox's rules."""
        if keep:
            return Handle(self, 0, self._keep(value), type(value).__name__[:100])
        arrays: list = []

        def put_array(arr):
            arrays.append(arr.copy(order="K"))
            return len(arrays) - 1

        limit = self._limits.max_message_bytes
        try:
            struct_ = encode(value, put_array, self._keep, [limit, limit])
        except ResultTooLarge as exc:
            raise StudentError(fn, "ResultTooLarge", str(exc)) from None
        try:
            return decode_result(struct_, lambda i: arrays[i], self, 0)
        except ProtocolError as exc:
            raise StudentCrash(fn, str(exc)) from None

    def _run(self, fn: str, thunk, keep: bool = False):
        with self._captured(), self._alarm(self._limits.call_timeout) as fired:
            try:
                result = thunk()
            except _Alarm:
                fired[0] = True
            except BaseException as exc:  # noqa: BLE001 - the student's failure, reported
                if fired[0]:
                    pass
                else:
                    info = execution.error_info(exc, self._sources)
                    raise StudentError(fn, info["type"], info["message"], info["traceback"]) from None
        if fired[0]:
            if time.monotonic() >= self._deadline:
                raise BudgetExhausted(fn, self._limits.total_timeout)
            raise StudentTimeout(fn, self._limits.call_timeout)
        return self._from_student(fn, result, keep)

    # -- the session interface --
    def has(self, name: str) -> bool:
        self._ready(name)
        return callable(self._ns.get(name))

    def _call(self, fn: str, args, kwargs, keep: bool):
        self._ready(fn)
        args = self._to_student(fn, list(args))
        kwargs = self._to_student(fn, dict(kwargs))

        def thunk():
            func = self._ns.get(fn)
            if not callable(func):
                raise NameError(f"name {fn!r} is not defined (or not a function) in the notebook")
            return func(*args, **kwargs)

        return self._run(fn, thunk, keep)

    def call(self, fn: str, *args, **kwargs):
        return self._call(fn, args, kwargs, keep=False)

    def call_keep(self, fn: str, *args, **kwargs) -> Handle:
        return self._call(fn, args, kwargs, keep=True)

    def fetch(self, handle: Handle, key=None):
        if not isinstance(handle, Handle):
            raise TypeError("fetch() takes a Handle")
        what = f"fetch({handle.type_name})"
        self._ready(what)
        obj = self._to_student(what, handle)
        if key is None:
            return self._from_student(what, obj, False)
        key = self._to_student(what, key)
        return self._run(what, lambda: obj[key])

    def close(self):
        self.closed = True
        self._handles.clear()
        self._ns.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
