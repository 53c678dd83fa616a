"""The wire format between the grader and the student process: the one module both sides import.

Frames: 8-byte big-endian payload length, a 4-byte JSON header length, the JSON header, then the
binary blobs listed in header["sizes"] (arrays as .npy, never pickle).
Values in a header are JSON, with tagged objects for what JSON lacks:
    {"$": "tuple", "v": [...]}   {"$": "dict", "v": {...}}   {"$": "nd", "i": blob}
    {"$": "sc", "i": blob} (numpy scalar as a 0-d array)   {"$": "h", "id": n, "type": name}
    {"$": "rng", "seed": n} (arguments only)

Two directions, two levels of trust:
  grader -> student  `encode_args` here, `decode_args` in the student (input is trusted there)
  student -> grader  `encode` in the student, `read_reply` + `decode_reply` here: strict, because
                     the other side is hostile; anything unexpected is a ProtocolError
Standard library and numpy only: this file runs inside the sandbox too (see inside/__init__.py).
"""

from __future__ import annotations

import json
import struct

from .npy import ProtocolError, load_npy

MAX_DEPTH = 64              # deeper structures come back as handles
MAX_INT_BITS = 8192         # larger ints come back as handles (JSON readers refuse huge ints)


class ResultTooLarge(Exception):
    """A result exceeds max_message_bytes; reported to the grader as a StudentError."""



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


class StaleHandle(Exception):
    pass



# --------------------------------------------------------------------------------------------
# Values: student side

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


def decode_args(struct_, get_array, get_handle):
    """Arguments from the grader: plain data, RNG seeds and handles become objects again."""
    import numpy as np

    if isinstance(struct_, list):
        return [decode_args(v, get_array, get_handle) for v in struct_]
    if not isinstance(struct_, dict):
        return struct_
    tag = struct_["$"]
    if tag == "tuple":
        return tuple(decode_args(v, get_array, get_handle) for v in struct_["v"])
    if tag == "dict":
        return {k: decode_args(v, get_array, get_handle) for k, v in struct_["v"].items()}
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
# Values: grader side

def encode_args(value, put_array, owner, generation: int, depth: int = 0):
    """Grader values -> the JSON structure of _student_host.decode. Raises TypeError for a value
    that cannot cross (it would be a grading bug, not the student's)."""
    import numpy as np

    if depth > MAX_DEPTH:
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
            raise StaleHandle()
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


def decode_result(struct_, get_array, owner, generation: int, depth: int = 0):
    """A reply structure -> plain data and Handles. Strict: anything unexpected is a
    ProtocolError, because the other side is hostile."""
    if depth > MAX_DEPTH + 2:
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


# --------------------------------------------------------------------------------------------
# Frames

def pack(header: dict, blobs: list) -> bytes:
    header = dict(header, sizes=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":")).encode()
    payload = 4 + len(head) + sum(len(b) for b in blobs)
    return b"".join([struct.pack(">QI", payload, len(head)), head, *blobs])


class BufferedReader:
    """Exact-size reads from a socket with few system calls: small frames usually arrive in one
    recv (every recv costs a wake-up, tens of microseconds in a VM), into one buffer kept for the
    connection's life (a fresh 64 KB buffer per recv cost page faults on both sides)."""

    CHUNK = 65536

    def __init__(self, recv_into):
        self.recv_into = recv_into        # recv_into(memoryview) -> bytes read; 0 at EOF
        self._chunk = bytearray(self.CHUNK)
        self._view = memoryview(self._chunk)
        self._start = self._end = 0       # the bytes received and not read yet: _chunk[_start:_end]

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet."""
        return self._end - self._start

    def read(self, n: int) -> bytearray:
        start, end = self._start, self._end
        if end - start >= n:
            self._start = start + n
            return self._chunk[start:start + n]
        out = bytearray(n)
        got = end - start
        out[:got] = self._view[start:end]
        self._start = self._end = 0
        view = memoryview(out)
        while got < n:
            if n - got >= self.CHUNK:
                k = self.recv_into(view[got:])
                if k == 0:
                    raise EOFError
                got += k
                continue
            k = self.recv_into(self._view)
            if k == 0:
                raise EOFError
            take = min(k, n - got)
            view[got:got + take] = self._view[:take]
            self._start, self._end = take, k
            got += take
        return out


def recv_frame(reader: BufferedReader) -> tuple[dict, list]:
    """One message from the grader (trusted; the grader validates what comes the other way)."""
    payload, head_len = struct.unpack(">QI", reader.read(12))
    header = json.loads(reader.read(head_len))
    blobs = [reader.read(n) for n in header.get("sizes", [])]
    return header, blobs



# --------------------------------------------------------------------------------------------
# Replies: grader side (the student process may send anything at all)

def read_reply(read_exact, max_bytes: int) -> tuple[dict, list]:
    """One frame from the student, its sizes checked before anything is allocated.

    `read_exact(n)` returns exactly n bytes (it raises on a timeout or a closed connection).
    Raises ProtocolError for a frame over `max_bytes` or one that does not add up."""
    payload, head_len = struct.unpack(">QI", bytes(read_exact(12)))
    if payload > max_bytes:
        raise ProtocolError(f"the student process sent a reply of {payload / 2**20:.0f} MB, "
                            f"more than the {max_bytes / 2**20:.0f} MB allowed")
    if head_len > payload - 4:
        raise ProtocolError("malformed reply frame")
    try:
        header = json.loads(bytes(read_exact(head_len)))
    except (ValueError, RecursionError):
        raise ProtocolError("malformed reply header") from None
    sizes = header.get("sizes") if isinstance(header, dict) else None
    if (not isinstance(sizes, list) or not all(_is_int(n) and n >= 0 for n in sizes)
            or 4 + head_len + sum(sizes) != payload):
        raise ProtocolError("malformed reply frame")
    return header, [read_exact(n) for n in sizes]


def decode_reply(reply: dict, blobs: list, owner, generation: int):
    """A call's reply -> ("ok", value) or ("raised", {"type", "message", "traceback"}: text
    only, cut to a bound). Raises ProtocolError for anything else."""
    if not isinstance(reply, dict):
        raise ProtocolError("malformed reply")
    if reply.get("ok") is True and "v" in reply:
        used = set()

        def get_array(i):
            if not 0 <= i < len(blobs) or i in used:
                raise ProtocolError("bad array reference")
            used.add(i)
            return load_npy(blobs[i])

        try:
            return "ok", decode_result(reply["v"], get_array, owner, generation)
        except RecursionError:
            raise ProtocolError("reply nested too deeply") from None
    if reply.get("ok") is False and isinstance(reply.get("err"), dict):
        err = reply["err"]
        return "raised", {"type": text(err.get("type"), 200) or "Exception",
                          "message": text(err.get("message")), "traceback": text(err.get("traceback"))}
    raise ProtocolError("malformed reply")


def text(value, limit: int = 20000) -> str:
    """A string from the student, cut to `limit` characters; anything else becomes ""."""
    return value[:limit] if isinstance(value, str) else ""
