"""Arrays on the wire: .npy bytes, never pickle. Both sides import this module (see wire.py).

The student side writes with `npy_bytes`; the grader reads with `load_npy`, which checks the
header and sizes before numpy allocates anything and refuses anything numpy could not turn back
into Python values. Standard library and numpy only: this file runs inside the sandbox too.
"""

from __future__ import annotations

import io
import re
import struct


class ProtocolError(Exception):
    """A reply that is not what the protocol allows: treated as a crash of the student."""



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


def load_npy(blob: bytes):
    """An .npy blob from the student, checked before numpy allocates anything."""
    import numpy as np

    try:
        arr = load_npy_fast(blob)
    except Exception as exc:  # noqa: BLE001 - ValueError; or a warning made an error (dtype 'a')
        raise _malformed(exc) from None
    if arr is not None:
        return _readable(arr)
    fp = io.BytesIO(bytes(blob))
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ProtocolError(f"unsupported .npy version {version}")
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy reads the header with tokenize and ast: a
        # hostile one raises TokenError, RecursionError or MemoryError as well as ValueError
        raise _malformed(exc) from None
    if dtype.hasobject:
        raise ProtocolError("object arrays are not accepted")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(blob) - fp.tell():
        raise ProtocolError("array data does not match its header")
    fp.seek(0)
    try:
        arr = np.load(fp, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - as above: numpy.load reads the header again
        raise _malformed(exc) from None
    return _readable(arr)


def _malformed(exc: Exception) -> ProtocolError:
    detail = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return ProtocolError(f"malformed array in reply ({detail[:300]})")


def _readable(arr):
    """`arr` if numpy can turn each of its elements into a Python object, else ProtocolError:
    str data with code points beyond U+10FFFF (SystemError in numpy) and datetime64 without a
    unit holding anything but NaT (ValueError). numpy never makes either; fields of structured
    arrays are checked too."""
    import numpy as np

    dtype = arr.dtype
    if dtype.names is not None:
        for name in dtype.names:
            _readable(arr[name])
    elif arr.size and dtype.kind == "U":
        codes = arr.ravel(order="K").view(np.dtype(np.uint32).newbyteorder(dtype.byteorder))
        if codes.max() > 0x10FFFF:
            raise ProtocolError("malformed array in reply (not a Unicode code point)")
    elif arr.size and dtype.kind == "M" and np.datetime_data(dtype)[0] == "generic":
        values = arr.ravel(order="K").view(np.dtype(np.int64).newbyteorder(dtype.byteorder))
        if (values != np.iinfo(np.int64).min).any():
            raise ProtocolError("malformed array in reply (a datetime64 without unit that is not NaT)")
    return arr


