"""The grader's side of the wire against a hostile student process (Hypothesis).

Whatever bytes come back, the trusted side ends in one of three ways for that call: a value made
only of plain data, arrays and Handles that is exactly what the student sent; the student's error
as bounded text; or ProtocolError (which the session turns into StudentCrash). Never another
exception in the grader, never pickle, never an allocation the frame's size does not pay for.

Each property is checked against an independent reference written here (what the format allows),
not against the code under test. The last part sends forged frames through a real sandbox.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import struct
import sys
import textwrap
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from initkit.sandbox import Limits, SandboxHost, StudentCrash, StudentError
from initkit.sandbox.inside import npy as wire_npy
from initkit.sandbox.inside.npy import load_npy, npy_bytes
from initkit.sandbox.inside.wire import (MAX_DEPTH, Handle, ProtocolError, decode_reply,
                                         decode_result, encode, pack, read_reply)
from initkit.submission import CodeCell

OWNER = object()        # stands for the StudentSession that owns the handles
GEN = 7
MAX_BYTES = 4096
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ENCODE_LIMIT = [1 << 30, 1 << 30]


# --------------------------------------------------------------------------------------------
# Helpers: the session's reader, the reference decoder, and the checks on what comes out

class Timeout(Exception):
    """What the session's read_exact raises when the student is too slow (here: at a byte)."""


class Reader:
    """read_exact over fixed bytes, as the session's behaves: exactly n bytes, or `end` (EOFError
    for a closed connection, Timeout for a student that stops sending) when they run out.
    Records every request."""

    def __init__(self, data: bytes, end=EOFError, max_bytes: int = MAX_BYTES):
        self.data, self.pos, self.end, self.max_bytes = bytes(data), 0, end, max_bytes
        self.requests: list[int] = []

    def __call__(self, n):
        assert type(n) is int and 0 <= n <= self.max_bytes, f"read_exact({n!r})"
        self.requests.append(n)
        if self.pos + n > len(self.data):
            self.pos = len(self.data)
            raise self.end
        out = bytearray(self.data[self.pos:self.pos + n])
        self.pos += n
        return out


def frame(header_bytes: bytes, blobs=(), payload=None, head_len=None) -> bytes:
    """A frame with the given parts; payload and head_len as declared (default: consistent)."""
    body = len(header_bytes) + sum(len(b) for b in blobs)
    payload = 4 + body if payload is None else payload
    head_len = len(header_bytes) if head_len is None else head_len
    return struct.pack(">QI", payload, head_len) + header_bytes + b"".join(blobs)


def reply_frame(header: dict, blobs=()) -> bytes:
    return frame(json.dumps(header).encode(), blobs)


def expected_read(data: bytes, max_bytes: int):
    """What read_reply must do with `data`, written from the format's definition: "eof",
    "protocol", or ("ok", header, blobs). Refusals come before the reads they make pointless."""
    if len(data) < 12:
        return "eof"
    payload, head_len = struct.unpack(">QI", data[:12])
    if payload > max_bytes or head_len + 4 > payload:
        return "protocol"
    if len(data) < 12 + head_len:
        return "eof"
    try:
        header = json.loads(data[12:12 + head_len])
    except (ValueError, RecursionError):
        return "protocol"
    sizes = header.get("sizes") if isinstance(header, dict) else None
    if (type(sizes) is not list or any(type(n) is not int or n < 0 for n in sizes)
            or 4 + head_len + sum(sizes) != payload):
        return "protocol"
    if len(data) < 8 + payload:         # the payload counts the header length's 4 bytes
        return "eof"
    blobs, pos = [], 12 + head_len
    for n in sizes:
        blobs.append(data[pos:pos + n])
        pos += n
    return "ok", header, blobs


class Invalid(Exception):
    pass


class HandleSpec(tuple):
    """An expected Handle: (id, type name)."""


def expected_value(struct_, arrays: list, used: set, depth: int = 0):
    """The value a reply structure stands for, by the format's grammar (exact key sets, int
    indices that are not bools, each blob once, handles' type names up to 100 characters, depth
    bounded like the student's encoder plus two); Invalid for anything else. `arrays[i]` is the
    array blob i holds, or None for a blob that is not a valid .npy."""
    if depth > MAX_DEPTH + 2:
        raise Invalid("depth")
    if struct_ is None or type(struct_) in (bool, int, float, str):
        return struct_
    if type(struct_) is list:
        return [expected_value(v, arrays, used, depth + 1) for v in struct_]
    if type(struct_) is not dict:
        raise Invalid("type")
    tag, keys = struct_.get("$"), set(struct_)

    def index(i):
        if type(i) is not int or not 0 <= i < len(arrays) or i in used or arrays[i] is None:
            raise Invalid("index")
        used.add(i)
        return arrays[i]

    if tag == "tuple" and keys == {"$", "v"} and type(struct_["v"]) is list:
        return tuple(expected_value(v, arrays, used, depth + 1) for v in struct_["v"])
    if tag == "dict" and keys == {"$", "v"} and type(struct_["v"]) is dict:
        return {k: expected_value(v, arrays, used, depth + 1) for k, v in struct_["v"].items()}
    if tag == "nd" and keys == {"$", "i"}:
        return index(struct_["i"])
    if tag == "sc" and keys == {"$", "i"}:
        arr = index(struct_["i"])
        if arr.shape != ():
            raise Invalid("scalar")
        return arr[()]
    if (tag == "h" and keys == {"$", "id", "type"} and type(struct_["id"]) is int
            and type(struct_["type"]) is str and len(struct_["type"]) <= 100):
        return HandleSpec((struct_["id"], struct_["type"]))
    raise Invalid("tag")


def same(got, want) -> bool:
    """Equal values of the same types; arrays and numpy scalars bit for bit, nan equal to nan.
    `want` may hold HandleSpecs."""
    if type(want) is HandleSpec:
        return (type(got) is Handle and got._owner is OWNER and got._generation == GEN
                and (got._id, got.type_name) == want)
    if type(got) is not type(want):
        return False
    if isinstance(want, np.ndarray):
        return (got.dtype == want.dtype and got.shape == want.shape
                and np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes())
    if isinstance(want, np.generic):
        return got.dtype == want.dtype and got.tobytes() == want.tobytes()
    if type(want) is float:
        return struct.pack("<d", got) == struct.pack("<d", want) or (got != got and want != want)
    if type(want) in (list, tuple):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if type(want) is dict:
        return list(got) == list(want) and all(same(got[k], want[k]) for k in want)
    return got == want


def check_readable(arr):
    """An array the grader can use: no Python objects inside, every element convertible."""
    assert type(arr) is np.ndarray or isinstance(arr, np.generic)
    assert not arr.dtype.hasobject
    np.asarray(arr).tolist()
    repr(arr)


def check_plain(value, depth: int = 0):
    """Only None/bool/int/float/str/list/tuple/dict of str/ndarray/numpy scalar/Handle."""
    assert depth <= MAX_DEPTH + 2
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return
    if t is np.ndarray or isinstance(value, np.generic):
        check_readable(value)
    elif t in (list, tuple):
        for v in value:
            check_plain(v, depth + 1)
    elif t is dict:
        for k, v in value.items():
            assert type(k) is str
            check_plain(v, depth + 1)
    elif t is Handle:
        assert value._owner is OWNER and value._generation == GEN
        assert type(value._id) is int and type(value.type_name) is str
        assert len(value.type_name) <= 100
    else:
        raise AssertionError(f"unexpected {t.__name__} in a decoded reply")


def outcome(reply, blobs):
    """decode_reply's outcome; anything but ProtocolError escaping fails the test."""
    try:
        kind, value = decode_reply(reply, blobs, OWNER, GEN)
    except ProtocolError as exc:
        assert str(exc)
        return "protocol", None
    assert kind in ("ok", "raised")
    if kind == "ok":
        check_plain(value)
    else:
        assert type(value) is dict and set(value) == {"type", "message", "traceback"}
        assert all(type(v) is str for v in value.values())
        assert 0 < len(value["type"]) <= 200
        assert len(value["message"]) <= 20000 and len(value["traceback"]) <= 20000
    return kind, value


# --------------------------------------------------------------------------------------------
# 1. Frames: read_reply

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=4), children, max_size=4)),
    max_leaves=12)

size_lists = st.one_of(
    st.lists(st.integers(-3, 40), max_size=5),
    st.lists(st.one_of(st.integers(0, 8), st.booleans(), st.floats(0, 8), st.text(max_size=2),
                       st.none(), st.lists(st.integers(0, 3), max_size=2)), max_size=5),
    json_values)

nasty_headers = st.sampled_from([
    b"", b"null", b"[]", b"1", b'"sizes"', b"{", b"{}", b"\xff\xfe{}", b"\xef\xbb\xbf{}",
    b'{"sizes": []', b'{"sizes": [1e400]}', b'{"sizes": [true]}', b'{"sizes": [-1, 1]}',
    b'{"sizes": [0.0]}', b'{"sizes": "0"}', b'{"sizes": {}}', b'{"sizes": null}',
    b'{"sizes": [NaN]}', b'{"sizes": [Infinity]}', b'{"sizes": [' + b"9" * 5000 + b"]}",
    b"[" * 100_000, b'{"a":' * 50_000, b'{"sizes": [], "v": ' + b"[" * 100_000 + b"]",
    b'{"sizes": [], "sizes": [3]}', b'{"sizes": [18446744073709551616]}',
])


@st.composite
def frames(draw):
    """Byte strings that look like reply frames: consistent or not, complete or not."""
    blobs = draw(st.lists(st.binary(max_size=12), max_size=3))
    kind = draw(st.sampled_from(["json", "nasty", "binary"]))
    if kind == "json":
        header = draw(st.dictionaries(st.text(max_size=3), json_values, max_size=3))
        sizes = draw(st.one_of(st.just([len(b) for b in blobs]), size_lists, st.just(None)))
        if sizes is not None:
            header["sizes"] = sizes
        header_bytes = json.dumps(header).encode()
    elif kind == "nasty":
        header_bytes = draw(nasty_headers)
    else:
        header_bytes = draw(st.binary(max_size=40))
    body = len(header_bytes) + sum(len(b) for b in blobs)
    payload = draw(st.one_of(st.just(4 + body), st.integers(0, 2**64 - 1),
                             st.integers(-3, 3).map(lambda d: max(0, 4 + body + d)),
                             st.integers(MAX_BYTES - 2, MAX_BYTES + 2)))
    head_len = draw(st.one_of(st.just(len(header_bytes)), st.integers(0, 2**32 - 1),
                              st.integers(-3, 3).map(lambda d: max(0, len(header_bytes) + d))))
    data = frame(header_bytes, blobs, payload, head_len)
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return (data if cut is None else data[:cut]) + draw(st.binary(max_size=8))


def check_read(data: bytes, end=EOFError):
    """read_reply on `data` (then `end`) does what expected_read says, reads nothing beyond the
    frame, and refuses a bad frame without reading what its declared sizes would need."""
    reader = Reader(data, end)
    want = expected_read(data, MAX_BYTES)
    try:
        header, blobs = read_reply(reader, MAX_BYTES)
    except ProtocolError:
        assert want == "protocol"
    except end:
        assert want == "eof"
    else:
        assert type(want) is tuple, want
        assert json.dumps(header) == json.dumps(want[1])          # nan != nan, so as text
        assert [bytes(b) for b in blobs] == want[2]
        assert reader.pos == 8 + struct.unpack(">Q", data[:8])[0]
    assert sum(reader.requests) <= 8 + MAX_BYTES
    if want == "protocol":
        payload, head_len = struct.unpack(">QI", data[:12])
        if payload > MAX_BYTES or head_len + 4 > payload:
            assert reader.requests == [12]
        else:
            assert reader.requests == [12, head_len]


@FUZZ
@given(st.binary(max_size=200))
@example(b"")
@example(b"\0" * 11)
def test_read_reply_arbitrary_bytes(data):
    check_read(data)


@FUZZ
@given(frames())
@example(frame(b'{"sizes": [2, 3]}', [b"ab", b"cde"]))
@example(frame(b'{"sizes": [2, 3]}', [b"ab", b"cd"]))           # blobs cut short
@example(frame(b'{"sizes": [true, 1]}', [b"a", b"b"]))          # bool as a size
@example(frame(b'{"sizes": [-1, 3]}', [b"ab"]))                 # negative size, sum matches
@example(frame(b'{"sizes": [1.0]}', [b"a"]))
@example(frame(b'{"v": 1}'))                                     # no sizes
@example(frame(b'{"sizes": []}', head_len=2**32 - 1))           # header longer than payload
@example(frame(b'{"sizes": []}', payload=2**64 - 1))            # 16 EB declared
@example(frame(b'{"sizes": []}', payload=3, head_len=0))        # payload below its own head
@example(frame(b"[" * 3000 + b"]" * 3000))
def test_read_reply_frames(data):
    check_read(data)


@settings(FUZZ, max_examples=100)
@given(frames())
def test_read_reply_timeout_passes_through(data):
    """The reader's own timeout comes out unchanged, where a closed connection would."""
    check_read(data, end=Timeout)


@pytest.mark.parametrize("payload", [MAX_BYTES + 1, 2**40, 2**63, 2**64 - 1])
def test_huge_declared_payload_is_refused_before_reading(payload):
    reader = Reader(struct.pack(">QI", payload, 2))         # nothing follows: no read may wait
    with pytest.raises(ProtocolError, match="MB"):
        read_reply(reader, MAX_BYTES)
    assert reader.requests == [12]          # nothing read past the refused prefix


@pytest.mark.parametrize("header", [b"[" * 200_000, b'{"a":' * 100_000,
                                    b'{"sizes":[],"v":' + b"[" * 100_000])
def test_deeply_nested_header_is_a_protocol_error(header):
    with pytest.raises(ProtocolError):
        read_reply(Reader(frame(header), max_bytes=len(header) + 16), len(header) + 16)


# --------------------------------------------------------------------------------------------
# 2. Values: decode_reply, decode_result

confusers = st.one_of(st.integers(-2, 4), st.booleans(), st.floats(-1, 4), st.none(),
                      st.text(max_size=2), st.just([]), st.just({}), st.just(2**64))
type_names = st.one_of(st.text(max_size=4), st.integers(97, 103).map(lambda n: "T" * n), confusers)
extra_keys = st.dictionaries(st.sampled_from(["$", "v", "i", "id", "type", "seed", "x"]),
                             st.one_of(confusers, st.just("tuple")), max_size=2)


def tagged(children):
    """Forged tagged objects: right or wrong tags, keys and field types."""
    return st.one_of(
        st.builds(lambda v: {"$": "tuple", "v": v}, st.lists(children, max_size=3)),
        st.builds(lambda v: {"$": "dict", "v": v},
                  st.dictionaries(st.text(max_size=3), children, max_size=3)),
        st.builds(lambda t, i: {"$": t, "i": i}, st.sampled_from(["nd", "sc"]), confusers),
        st.builds(lambda i, t: {"$": "h", "id": i, "type": t}, confusers, type_names),
        st.builds(lambda s: {"$": "rng", "seed": s}, confusers),
        st.builds(lambda t, v: {"$": t, "v": v},
                  st.sampled_from(["tuple", "dict", "nd", "sc", "h", "rng", "", "TUPLE", None]),
                  st.one_of(children, confusers)),
        st.dictionaries(st.sampled_from(["$", "v", "i", "id", "type", "seed"]),
                        st.one_of(st.sampled_from(["tuple", "dict", "nd", "sc", "h", "rng"]),
                                  confusers, children), max_size=4),          # any key set
        st.builds(lambda d, extra: {**d, **extra},
                  st.one_of(st.just({"$": "tuple", "v": []}), st.just({"$": "nd", "i": 0}),
                            st.just({"$": "h", "id": 1, "type": "x"})), extra_keys),
        st.dictionaries(st.text(max_size=3), children, max_size=3),         # untagged dicts
    )


structures = st.recursive(json_scalars, lambda ch: st.one_of(st.lists(ch, max_size=4), tagged(ch)),
                          max_leaves=16)

SMALL_ARRAYS = [np.arange(3.0), np.array(5, dtype=np.int16), np.array(True), np.zeros((2, 0)),
                np.array(["ab", "\ud800"]), np.array("x"), np.array("NaT", dtype="M8"),
                np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
                np.zeros(2, dtype=[("a", "<i4"), ("s", "<U2")]), np.array(1.5, dtype=np.float16),
                np.array(2 + 3j), np.array(b"by")]

GOOD_BLOBS = [(a, npy_bytes(a)) for a in SMALL_ARRAYS]
blob_lists = st.lists(st.one_of(
    st.sampled_from(GOOD_BLOBS),                                    # (array, its .npy)
    st.binary(max_size=20).map(lambda b: (None, b)),                # (None, not an .npy)
    st.sampled_from(GOOD_BLOBS).map(lambda p: (None, p[1][:-1])),   # (None, cut short)
), max_size=4)


def check_decoded(struct_, blob_pairs):
    arrays = [a for a, _ in blob_pairs]
    blobs = [bytearray(b) for _, b in blob_pairs]          # the session passes bytearrays
    try:
        want = "ok", expected_value(struct_, arrays, set())
    except Invalid:
        want = "protocol", None
    got = outcome({"ok": True, "v": struct_, "sizes": [len(b) for b in blobs]}, blobs)
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        assert same(got[1], want[1]), (got[1], want[1])
    if want[0] == "ok":        # decode_result alone, with a get_array that checks nothing
        assert same(decode_result(struct_, lambda i: load_npy(blobs[i]), OWNER, GEN), want[1])


@FUZZ
@given(structures, blob_lists)
@example({"$": "nd", "i": True}, GOOD_BLOBS[:2])
@example({"$": "nd", "i": 0.0}, GOOD_BLOBS[:1])
@example({"$": "nd", "i": -1}, GOOD_BLOBS[:1])
@example({"$": "nd", "i": 1}, GOOD_BLOBS[:1])
@example([{"$": "nd", "i": 0}, {"$": "nd", "i": 0}], GOOD_BLOBS[:1])
@example({"$": "sc", "i": 0}, GOOD_BLOBS[:1])                   # not 0-d
@example({"$": "sc", "i": 0}, GOOD_BLOBS[1:2])
@example({"$": "h", "id": 1, "type": "T" * 100}, [])
@example({"$": "h", "id": 1, "type": "T" * 101}, [])
@example({"$": "h", "id": True, "type": "x"}, [])
@example({"$": "h", "id": 1.0, "type": "x"}, [])
@example({"$": "rng", "seed": 1}, [])
@example({"$": "tuple", "v": [], "x": 1}, [])
@example({"$": "tuple", "v": {}}, [])
@example({"$": "dict", "v": []}, [])
@example({"a": 1}, [])
@example({"$": "dict", "v": {"$": "nd", "i": 0}}, [(None, b"\x93NUMPY")])
def test_decode_structures(struct_, blob_pairs):
    check_decoded(struct_, blob_pairs)


def nested(depth: int, leaf, tag=None):
    v = leaf
    for _ in range(depth):
        v = [v] if tag is None else {"$": tag, "v": [v]}
    return v


@pytest.mark.parametrize("tag", [None, "tuple"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, MAX_DEPTH + 2, MAX_DEPTH + 3, 5000, 200_000])
def test_deep_nesting_is_bounded(depth, tag):
    check_decoded(nested(depth, 1, tag), [])


def test_dicts_nest_as_deep_as_lists():
    leaf = {"$": "h", "id": 3, "type": "Foo"}
    for depth in (MAX_DEPTH + 2, MAX_DEPTH + 3):
        v = leaf
        for _ in range(depth):
            v = {"$": "dict", "v": {"k": v}}
        check_decoded(v, [])


def _at_stack_depth(n, f):
    return f() if n <= 0 else _at_stack_depth(n - 1, f)


def _frames_in(tb) -> set:
    names = set()
    while tb is not None:
        names.add(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


def test_recursion_error_while_decoding_becomes_protocol_error():
    """With the grader's stack already deep, a nested reply that runs out of stack inside the
    decoder is refused as malformed, never RecursionError; an accepted one is exact."""
    value = nested(MAX_DEPTH, 2.5, "tuple")
    reply = {"ok": True, "v": value, "sizes": []}
    here = len(inspect.stack(0))
    limit = sys.getrecursionlimit()
    outcomes = set()
    for margin in range(3, 2 * MAX_DEPTH + 40):
        try:
            result = _at_stack_depth(limit - here - margin,
                                     lambda: decode_reply(reply, [], OWNER, GEN))
        except ProtocolError:
            outcomes.add("protocol")
            continue
        except RecursionError as exc:
            assert "decode_result" not in _frames_in(exc.__traceback__), "escaped the decoder"
            outcomes.add("before")
            continue
        assert result == ("ok", _as_tuples(MAX_DEPTH, 2.5))
        outcomes.add("ok")
    assert outcomes >= {"protocol", "ok"}


def _as_tuples(depth, leaf):
    v = leaf
    for _ in range(depth):
        v = (v,)
    return v


err_fields = st.one_of(json_values, st.text(max_size=30),
                       st.integers(0, 3).map(lambda k: ["", "E", "x" * 250, "m" * 30_000][k]))


@FUZZ
@given(st.dictionaries(st.sampled_from(["type", "message", "traceback", "x"]), err_fields,
                       max_size=4),
       st.dictionaries(st.sampled_from(["v", "sizes", "x"]), json_values, max_size=2))
@example({"type": 5, "message": ["x"], "traceback": None}, {})
@example({"type": "", "message": "m" * 30_000, "traceback": {"a": 1}}, {"v": 1})
def test_error_replies_become_bounded_text(err, extra):
    got = outcome({**extra, "ok": False, "err": err}, [])
    assert got[0] == "raised"
    def cut(key, limit=20000):
        return err[key][:limit] if type(err.get(key)) is str else ""

    assert got[1] == {"type": cut("type", 200) or "Exception", "message": cut("message"),
                      "traceback": cut("traceback")}


@FUZZ
@given(st.dictionaries(st.sampled_from(["ok", "v", "err", "sizes", "x"]),
                       st.one_of(json_values, st.sampled_from([True, False, 1, 0, "true", None])),
                       max_size=4))
@example({"ok": True})
@example({"ok": 1, "v": 1})
@example({"ok": "true", "v": 1})
@example({"ok": False, "err": "boom"})
@example({"ok": False, "err": ["boom"]})
@example({"ok": None, "err": {}})
def test_reply_envelopes(reply):
    got = outcome(reply, [])
    if reply.get("ok") is True and "v" in reply:
        try:
            want = "ok", expected_value(reply["v"], [], set())
        except Invalid:
            want = "protocol", None
        assert got[0] == want[0] and (got[0] != "ok" or same(got[1], want[1]))
    elif reply.get("ok") is False and type(reply.get("err")) is dict:
        assert got[0] == "raised"
    else:
        assert got[0] == "protocol"


@pytest.mark.parametrize("reply", [None, [], "ok", 1, [{"ok": True, "v": 1}]])
def test_reply_that_is_not_an_object(reply):
    assert outcome(reply, []) == ("protocol", None)


# --------------------------------------------------------------------------------------------
# 3. Arrays: load_npy

CANARY = "INITKIT_WIRE_FUZZ_UNPICKLED"
# A pickle that, if ever loaded, sets an environment variable: os.environ.setdefault(CANARY, "1")
# (padded to whole 8-byte items, so that an object array of CANARY_ITEMS passes the size check)
PICKLE_CANARY = (b"c__builtin__\ngetattr\n(cos\nenviron\nS'setdefault'\ntR(S'" + CANARY.encode()
                 + b"'\nS'1'\ntR.").ljust(96, b" ")
CANARY_ITEMS = (len(PICKLE_CANARY) // 8,)


def npy_header(d, version=(1, 0), standard=False) -> bytes:
    """Magic + header for the header dict (or literal text) `d`, padded as numpy pads it;
    `standard`: in the exact form numpy writes (which load_npy reads with its own parser)."""
    text = d if isinstance(d, str) else repr(d)
    if standard:
        text = "{" + "".join(f"{k!r}: {v!r}, " for k, v in d.items()) + "}"
    size_fmt = "<H" if version == (1, 0) else "<I"
    pre = 8 + struct.calcsize(size_fmt)
    text += " " * (-(pre + len(text) + 1) % 64) + "\n"
    raw = text.encode("utf8" if version == (3, 0) else "latin1")
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_fmt, len(raw)) + raw


DESCRS = ["<i4", ">f8", "|b1", "<U1", ">U2", "<M8", "<m8", "<M8[ns]", "|O", "O", "|S0", "|V0",
          "<U0", "|V4", "T", "<i4[2]", "<f16", "c", "a", "<c16",
          [("a", "<i4")], [("a", "|O")], [("s", "<U1"), ("t", "<M8")], [("x", "<f8", (2,))],
          [("n", [("u", ">U1")])], [], [("a", "<i4", (-1,))], [("a", "<i4", (2**40,))],
          [("é", "<i2")], [("a", "T")], ("<i4", (2,)), {"names": ["a"], "formats": ["<i4"]}]
SHAPES = [(), (1,), (2,), (2, 3), (0,), CANARY_ITEMS, (0, 2**70), (2**40,), (2**62, 4),
          (2**31, 2**31, 2), (-1,), (3, -1), (-2, -2), (True,), (1,) * 65, (2**64, 0)]


def data_size(descr, shape):
    try:
        dtype = np.dtype(descr if not isinstance(descr, list) else [tuple(f) for f in descr])
    except Exception:  # noqa: BLE001 - any unusable descr: guess a size
        return 8
    count = math.prod(shape)
    return count * dtype.itemsize if 0 <= count * dtype.itemsize <= 256 else 8


small_arrays = st.one_of(
    hnp.arrays(dtype=st.one_of(hnp.integer_dtypes(endianness="?"),
                               hnp.floating_dtypes(endianness="?"), hnp.boolean_dtypes(),
                               hnp.unicode_string_dtypes(endianness="?", max_len=3),
                               hnp.datetime64_dtypes(endianness="?"),
                               hnp.byte_string_dtypes(max_len=3)),
               shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)),
    st.sampled_from(SMALL_ARRAYS))


@st.composite
def npy_blobs(draw):
    """.npy files: valid ones written by numpy or npy_bytes, and mutations of their headers and
    data (descr, shape, fortran order, version, length), with data of the declared size."""
    arr = draw(small_arrays)
    how = draw(st.sampled_from(["npy_bytes", "v1", "v2", "v3", "header", "literal", "bytes"]))
    if how == "npy_bytes":
        blob = npy_bytes(arr)
    elif how in ("v1", "v2", "v3"):
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.lib.format.write_array(buf, arr, version=(int(how[1]), 0), allow_pickle=False)
        blob = buf.getvalue()
    elif how == "header":
        descr = draw(st.one_of(st.sampled_from(DESCRS), st.just(arr.dtype.descr if arr.dtype.names
                                                                 else arr.dtype.str)))
        shape = draw(st.one_of(st.sampled_from(SHAPES), st.just(arr.shape),
                               st.lists(st.integers(0, 3), max_size=3).map(tuple)))
        fortran = draw(st.sampled_from([False, True, 0, "yes", None]))
        d = {"descr": descr, "fortran_order": fortran, "shape": shape}
        if draw(st.booleans()):
            d = dict(reversed(list(d.items())))                     # not numpy's key order
        version = draw(st.sampled_from([(1, 0), (1, 0), (2, 0), (3, 0), (0, 9), (1, 1)]))
        size = data_size(descr, shape)
        body = draw(st.one_of(st.binary(min_size=size, max_size=size), st.just(PICKLE_CANARY),
                              st.just(arr.tobytes()), st.binary(max_size=24)))
        blob = npy_header(d, version, standard=draw(st.booleans())) + body
    elif how == "literal":
        attack = draw(st.sampled_from(["-" * 4000 + "1", "~" * 4000 + "1", "(" * 3000,
                                       "(" * 150 + ")" * 150, "[" * 190 + "]" * 190, "9" * 5000,
                                       "__import__('os')", "1 if 1 else 2", "{1, 2}", "b'x'",
                                       "f'{1}'", "(1,) * 10**9", "not 1", "'\\x00'", "..."]))
        field = draw(st.sampled_from(["descr", "shape", "fortran_order"]))
        d = {"descr": "'<i4'", "fortran_order": "False", "shape": "(1,)"}
        d[field] = attack
        blob = npy_header("{" + ", ".join(f"'{k}': {v}" for k, v in d.items()) + ", }") + b"\0" * 4
    else:
        blob = draw(st.binary(max_size=80))
        if draw(st.booleans()):
            blob = wire_npy.NPY_MAGIC + blob
    cut = draw(st.one_of(st.none(), st.none(), st.integers(0, len(blob))))
    if cut is not None:
        blob = blob[:cut] + draw(st.binary(max_size=4))
    blob += draw(st.one_of(st.just(b""), st.just(b""), st.binary(min_size=1, max_size=9)))
    flip = draw(st.one_of(st.none(), st.none(), st.integers(0, max(len(blob) - 1, 0))))
    if flip is not None and blob:
        blob = blob[:flip] + bytes([draw(st.integers(0, 255))]) + blob[flip + 1:]
    return blob


def npy_data_offset(blob) -> int:
    size_fmt = "<H" if blob[6] == 1 else "<I"
    return 8 + struct.calcsize(size_fmt) + struct.unpack_from(size_fmt, blob, 8)[0]


def check_npy(blob):
    """ProtocolError, or the array numpy itself reads from these bytes, usable, and no larger
    than the blob; never unpickles."""
    try:
        arr = load_npy(bytearray(blob))
    except ProtocolError as exc:
        assert str(exc)
        assert CANARY not in os.environ, "an object array was unpickled"
        return None
    assert CANARY not in os.environ, "an object array was unpickled"
    assert type(arr) is np.ndarray
    assert arr.nbytes == len(blob) - npy_data_offset(blob)       # every byte accounted for
    check_readable(arr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = np.load(io.BytesIO(bytes(blob)), allow_pickle=False)
    assert same(arr, reference)
    return arr


@pytest.mark.filterwarnings("error")       # a warning made an error is refused like the rest
@FUZZ
@given(st.binary(max_size=200))
def test_load_npy_arbitrary_bytes(blob):
    check_npy(blob)


@pytest.mark.filterwarnings("error")
@settings(FUZZ, max_examples=1000)
@given(npy_blobs())
@example(npy_bytes(np.arange(3)) + b"\0")                            # data after the array
@example(npy_header({"descr": "a", "fortran_order": False, "shape": (1,)}, standard=True) + b"x")
@example(npy_header({"descr": "<U1", "fortran_order": False, "shape": (1,)}) + b"\xff" * 4)
@example(npy_header({"descr": "<U1", "fortran_order": False, "shape": ()}) + b"\0\0\x11\0")
@example(npy_header({"descr": ">U1", "fortran_order": False, "shape": (2,)}) + b"\0\0\0a\x80\0\0\0")
@example(npy_header({"shape": (), "descr": [("s", "<U1")], "fortran_order": False}) + b"\xff" * 4)
@example(npy_header({"descr": [("n", [("u", "<U1")])], "fortran_order": False, "shape": (2,)})
         + b"a\0\0\0" + b"\0\0\x11\0")
@example(npy_header({"descr": "<M8", "fortran_order": False, "shape": (1,)}) + struct.pack("<q", 5))
@example(npy_header({"descr": "<M8", "fortran_order": False, "shape": (1,)}) + b"\0" * 7 + b"\x80")
@example(npy_header({"shape": (1,), "descr": "<M8", "fortran_order": False}) + struct.pack("<q", 5))
@example(npy_header({"descr": "|O", "fortran_order": False, "shape": CANARY_ITEMS}) + PICKLE_CANARY)
@example(npy_header({"descr": "|O", "fortran_order": False, "shape": CANARY_ITEMS}, standard=True)
         + PICKLE_CANARY)
@example(npy_header({"descr": [("a", "|O")], "fortran_order": False, "shape": CANARY_ITEMS})
         + PICKLE_CANARY)
@example(npy_header({"descr": [("a", "|O")], "fortran_order": False, "shape": (1,)}) + b"\0" * 8)
@example(npy_header({"descr": "<i4", "fortran_order": False, "shape": (2**40,)}) + b"\0" * 4)
@example(npy_header({"descr": "<i4", "fortran_order": True, "shape": (2, 3)}) + bytes(range(24)))
@example(npy_header({"descr": "<i4", "fortran_order": False, "shape": (1,)}, (2, 0)) + b"\0" * 4)
@example(npy_header({"descr": "<i4", "fortran_order": False, "shape": (1,)}, (3, 0)) + b"\0" * 4)
@example(npy_header({"descr": "<i4", "fortran_order": False, "shape": (-1, -4)}) + b"\0" * 16)
@example(npy_header("{'descr': '<i4', 'fortran_order': False, 'shape': (" + "-" * 4000 + "1,), }"))
@example(npy_header("{'descr': '<i4', 'fortran_order': False, 'shape': " + "(" * 3000 + ", }"))
def test_load_npy_mutated(blob):
    check_npy(blob)


@pytest.mark.parametrize("header", [
    {"descr": "<i4", "fortran_order": False, "shape": (2**40,)},
    {"descr": "<f8", "fortran_order": False, "shape": (2**62, 4)},
    {"descr": "<i4", "fortran_order": False, "shape": (0, 2**70)},
    {"descr": "<i4", "fortran_order": False, "shape": (2**64, 0)},
    {"shape": (2**40,), "descr": "<i4", "fortran_order": False},              # numpy.load's path
    {"shape": (2**31, 2**31, 2), "descr": [("a", "<i4")], "fortran_order": False},
    {"shape": (0,), "descr": [("a", "<i4", (2**40,))], "fortran_order": False},
    {"shape": (2**63, 0), "descr": [("a", "<i4")], "fortran_order": False},
])
def test_huge_shapes_allocate_nothing(header):
    blob = npy_header(header) + b"\0" * 64
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError):
            load_npy(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_pickle_canary_is_live():
    """The canary would be noticed: loading it with pickle does set the variable."""
    import pickle

    try:
        pickle.loads(PICKLE_CANARY)
        assert os.environ.get(CANARY) == "1"
    finally:
        os.environ.pop(CANARY, None)


# --------------------------------------------------------------------------------------------
# 4. Round trip: what a correct student sends comes back equal

def arrays_of(dtypes):
    return hnp.arrays(dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                           max_side=4))


any_dtype = st.one_of(
    hnp.integer_dtypes(endianness="?"), hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"), hnp.complex_number_dtypes(endianness="?"),
    hnp.boolean_dtypes(), hnp.unicode_string_dtypes(endianness="?", max_len=4),
    hnp.byte_string_dtypes(max_len=4), hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    st.just(np.dtype([("a", "<i4"), ("s", "<U2"), ("t", "<M8[s]"), ("v", "<f8", (2,))])),
    st.just(np.dtype([("n", [("u", ">U1"), ("b", "?")])])))


@st.composite
def numpy_values(draw):
    arr = draw(arrays_of(any_dtype))
    layout = draw(st.sampled_from(["as is", "fortran", "strided", "scalar", "readonly"]))
    if layout == "fortran":
        arr = np.asfortranarray(arr.T)
    elif layout == "strided" and arr.ndim:
        arr = arr[::-1][::2]
    elif layout == "scalar" and arr.size:
        return arr.reshape(-1)[0]
    elif layout == "readonly":
        arr.flags.writeable = False
    return arr


valid_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**200, 2**200),
              st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
              numpy_values()),
    lambda ch: st.one_of(st.lists(ch, max_size=3), st.tuples(ch, ch),
                         st.dictionaries(st.text(max_size=4), ch, max_size=3)),
    max_leaves=10)


def send_like_the_student(value) -> bytes:
    """The child's _reply_value: encode + pack, arrays with npy_bytes."""
    blobs: list = []
    kept: dict = {}

    def put_array(arr):
        blobs.append(npy_bytes(arr))
        return len(blobs) - 1

    def keep(obj):
        kept[len(kept) + 1] = obj
        return len(kept)

    return pack({"ok": True, "v": encode(value, put_array, keep, list(ENCODE_LIMIT))}, blobs)


def receive_like_the_grader(data: bytes):
    header, blobs = read_reply(Reader(data, max_bytes=len(data)), len(data))
    return decode_reply(header, blobs, OWNER, GEN)


@settings(FUZZ, max_examples=400)
@given(valid_values)
@example(np.array(["\ud800", "\U0010ffff"]))
@example(np.array("NaT", dtype="M8"))
@example(np.datetime64("NaT"))
@example(np.timedelta64(5))
@example(np.zeros(3, dtype=[]))
@example(np.float64(-0.0))
@example(np.array([[1, 2], [3, 4]], dtype=">i8", order="F"))
@example({"$": "nd", "i": 0})                        # a dict that looks like a tag stays a dict
@example([float("nan"), float("-inf"), -0.0, 2**8000])
def test_round_trip_of_valid_values(value):
    kind, got = receive_like_the_grader(send_like_the_student(value))
    assert kind == "ok"
    assert same(got, value), (got, value)


def test_round_trip_keeps_what_cannot_cross_as_handles():
    value = [2**9000, object(), {1: "a"}, np.array([None]), nested(MAX_DEPTH + 5, 1)]
    kind, got = receive_like_the_grader(send_like_the_student(value))
    assert kind == "ok"
    assert [h.type_name for h in got[:4]] == ["int", "object", "dict", "ndarray"]
    inner = got[4]
    for _ in range(MAX_DEPTH - 1):
        inner = inner[0]
    assert type(inner) is Handle and inner.type_name == "list"


@settings(FUZZ, max_examples=100)
@given(st.text(), st.text(), st.text())
def test_round_trip_of_errors(exc_type, message, tb):
    info = {"type": exc_type, "message": message, "traceback": tb}
    kind, got = receive_like_the_grader(pack({"ok": False, "err": info}, []))
    assert kind == "raised"
    assert got == {"type": exc_type[:200] or "Exception", "message": message[:20000],
                   "traceback": tb[:20000]}


# --------------------------------------------------------------------------------------------
# 5. Through a real sandbox: student code writes to its own connection

LIMITS = Limits(cell_timeout=3.0, call_timeout=1.5, total_timeout=60.0, cpu_seconds=20,
                memory_mb=256, max_processes=16, max_output_bytes=4096,
                max_file_bytes=1 << 20, max_message_bytes=1 << 20)

STUDENT = """
import builtins, os, stat

def _conn():
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass

def _write(data):
    fd, view = _conn(), memoryview(data)
    while view:
        view = view[os.write(fd, view):]

def good(x):
    return [x, x * 2]

def forge_then_return(hexdata):
    _write(bytes.fromhex(hexdata))
    return "the real reply"

def forge_then_exit(hexdata):
    _write(bytes.fromhex(hexdata))
    os._exit(0)

def patch_callable():
    import numpy as np
    builtins.callable = lambda obj: np.arange(3)
"""


@pytest.fixture(scope="module")
def host():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = SandboxHost(LIMITS)
    yield h
    h.close()


def open_session(host):
    return host.open_session([CodeCell(0, textwrap.dedent(STUDENT))])


def _npy_frame(npy: bytes, tag="nd") -> bytes:
    return reply_frame({"ok": True, "v": {"$": tag, "i": 0}, "sizes": [len(npy)]}, [npy])


def declared(payload: int) -> bytes:
    """The first bytes of a frame that declares `payload` bytes, with a header that adds up."""
    size = payload
    while True:
        head = json.dumps({"ok": True, "v": {"$": "nd", "i": 0}, "sizes": [size]}).encode()
        if 4 + len(head) + size == payload:
            return struct.pack(">QI", payload, len(head)) + head
        size = payload - 4 - len(head)


NASTY_FRAMES = {
    "payload over the limit": struct.pack(">QI", 2**62, 0),
    "2**62 bytes that add up": declared(2**62),
    "header longer than payload": struct.pack(">QI", 10, 100) + b"\0" * 6,
    "not JSON": frame(b"\xff\xfe not json"),
    "JSON list": frame(b"[1, 2]"),
    "nested 100k deep": frame(b"[" * 100_000),
    "sizes missing": frame(b'{"ok": true, "v": 1}'),
    "sizes negative": frame(b'{"ok": true, "v": 1, "sizes": [-3, 3]}', [b"abc"]),
    "sizes bool": frame(b'{"ok": true, "v": 1, "sizes": [true]}', [b"a"]),
    "sizes float": frame(b'{"ok": true, "v": 1, "sizes": [1.0]}', [b"a"]),
    "sizes short": frame(b'{"ok": true, "v": 1, "sizes": [1]}', [b"abc"]),
    "blob index out of range": reply_frame({"ok": True, "v": {"$": "nd", "i": 1}, "sizes": []}),
    "blob index reused": reply_frame({"ok": True, "v": [{"$": "nd", "i": 0}] * 2,
                                      "sizes": [len(npy_bytes(np.arange(2)))]},
                                     [npy_bytes(np.arange(2))]),
    "index is a bool": reply_frame({"ok": True, "v": {"$": "nd", "i": True},
                                    "sizes": [len(npy_bytes(np.arange(2)))] * 2},
                                   [npy_bytes(np.arange(2))] * 2),
    "pickled object array": _npy_frame(npy_header({"descr": "|O", "fortran_order": False,
                                                   "shape": CANARY_ITEMS}) + PICKLE_CANARY),
    "str beyond U+10FFFF": _npy_frame(npy_header({"descr": "<U1", "fortran_order": False,
                                                  "shape": ()}) + (0x110000).to_bytes(4, "little"),
                                      "sc"),
    "unitless datetime": _npy_frame(npy_header({"descr": "<M8", "fortran_order": False,
                                                "shape": ()}) + struct.pack("<q", 5), "sc"),
    "unclosed .npy header": _npy_frame(npy_header("{'descr': '<i4', 'fortran_order': False, "
                                                  "'shape': " + "(" * 3000 + ", }")),
    "2**40 elements": _npy_frame(npy_header({"descr": "<f8", "fortran_order": False,
                                             "shape": (2**40,)}) + b"\0" * 8),
    "handle type too long": reply_frame({"ok": True, "v": {"$": "h", "id": 1, "type": "T" * 101},
                                         "sizes": []}),
    "rng in a reply": reply_frame({"ok": True, "v": {"$": "rng", "seed": 1}, "sizes": []}),
    "ok is 1": reply_frame({"ok": 1, "v": 1, "sizes": []}),
    "err not a dict": reply_frame({"ok": False, "err": "boom", "sizes": []}),
}
# Valid frames the student forges in place of its reply: taken as its reply (it sent them), but
# the process is then out of step with the grader (its own reply is still to come).
FORGED_VALID = {
    "value": (reply_frame({"ok": True, "v": 42, "sizes": []}), 42),
    "error with non-text fields": (
        reply_frame({"ok": False, "err": {"type": 5, "message": ["x"], "traceback": None},
                     "sizes": []}), StudentError),
}


def assert_good(session):
    assert session.call("good", 3) == [3, 6]


@pytest.mark.parametrize("name", list(NASTY_FRAMES))
def test_sandbox_forged_frames_crash_that_call_only(host, name):
    with open_session(host) as s:
        assert_good(s)
        with pytest.raises(StudentCrash):
            s.call("forge_then_return", NASTY_FRAMES[name].hex())
        assert CANARY not in os.environ
        assert_good(s)
        assert_good(s)


@pytest.mark.parametrize("name", list(FORGED_VALID))
def test_sandbox_forged_valid_frame_then_the_session_is_in_step_again(host, name):
    """A well-formed frame the student's code wrote itself lacks the request's id: that call is a
    crash (never the forged value), and the session is in step again for the next calls."""
    data, _ = FORGED_VALID[name]
    with open_session(host) as s:
        with pytest.raises(StudentCrash, match="answers another request"):
            s.call("forge_then_return", data.hex())
        time.sleep(0.05)            # the student's own reply has arrived by now
        assert_good(s)
        assert_good(s)


def test_sandbox_forged_answer_to_has(host):
    with open_session(host) as s:
        assert s.has("good") is True
        s.call("patch_callable")
        with pytest.raises(StudentCrash, match="invalid reply"):
            s.has("good")
        assert_good(s)


def test_sandbox_cell_that_writes_garbage(host):
    cells = [CodeCell(0, textwrap.dedent(STUDENT)),
             CodeCell(1, "_write(b'\\0' * 12 + b'garbage')\nimport time\ntime.sleep(30)"),
             CodeCell(2, "later = 5")]
    with host.open_session(cells) as s:
        assert [e["cell"] for e in s.cell_errors] == [1]
        assert s.cell_errors[0]["kind"] == "crash"
        assert_good(s)


@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(frames(), st.binary(max_size=64),
                 st.builds(lambda v: reply_frame({"ok": True, "v": v, "sizes": []}), structures),
                 st.builds(lambda e: reply_frame({"ok": False, "err": e, "sizes": []}),
                           st.dictionaries(st.sampled_from(["type", "message"]), json_values))))
def test_sandbox_drawn_garbage(host, data):
    """Whatever the student writes before dying: the same outcome as the pure decoder's on those
    bytes (a crash for anything malformed or cut short), and the next call works."""
    want = expected_read(data, LIMITS.max_message_bytes)
    if isinstance(want, tuple):
        try:
            want = decode_reply(want[1], want[2], OWNER, GEN)
        except ProtocolError:
            want = "protocol"
    with open_session(host) as s:
        try:
            got = "ok", s.call("forge_then_exit", data.hex())
        except StudentCrash:
            got = "crash"
        except StudentError as exc:
            got = "raised", {"type": exc.exc_type, "message": exc.message,
                             "traceback": exc.traceback}
        # Malformed, cut short, or well formed but without the request's id: always a crash.
        assert got == "crash", (want, got)
        assert_good(s)

