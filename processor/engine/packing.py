"""Arrays of numbers in a snapshot: base64 of little-endian values, integers in the narrowest width
that holds them ("i2:..."), floats as 8-byte doubles ("f8:...", exact, infinities and NaN included).

One home for the packed form of snapshot version 4's budget rings (engine/budget.py) and version
5's sealed sub-windows (engine/sealed.py): a million numbers are then one string each, decoded
with one numpy call, instead of a million JSON numbers that become a million Python objects.
"""

from __future__ import annotations

import base64

import numpy as np

__all__ = ["pack_floats", "pack_ints", "unpack_floats", "unpack_ints"]

_WIDTHS = ("<i1", "<i2", "<i4", "<i8")


def pack_ints(values: np.ndarray) -> str:
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    dtype = next(w for w in _WIDTHS if np.iinfo(w).min <= lo and hi <= np.iinfo(w).max)
    return f"i{np.dtype(dtype).itemsize}:" + base64.b64encode(values.astype(dtype).tobytes()).decode("ascii")


def unpack_ints(text: object, count: int, field: str, of: str = "entries") -> np.ndarray:
    """``count`` int64 values (one per ``of``); ValueError naming ``field`` when the text does not
    hold them."""
    width, _, body = _parts(text, field)
    if f"<{width}" not in _WIDTHS:
        raise ValueError(f"{field}: unknown integer width {width!r}")
    return _values(body, f"<{width}", count, field, of).astype(np.int64)


def pack_floats(values: np.ndarray) -> str:
    return "f8:" + base64.b64encode(values.astype("<f8").tobytes()).decode("ascii")


def unpack_floats(text: object, count: int, field: str) -> np.ndarray:
    width, _, body = _parts(text, field)
    if width != "f8":
        raise ValueError(f"{field}: unknown float width {width!r}")
    return _values(body, "<f8", count, field, "entries").astype(np.float64)


def _parts(text: object, field: str) -> tuple[str, str, str]:
    if type(text) is not str:
        raise ValueError(f"{field}: expected packed text, got {type(text).__name__}")
    return text.partition(":")


def _values(body: str, dtype: str, count: int, field: str, of: str) -> np.ndarray:
    try:
        values = np.frombuffer(base64.b64decode(body, validate=True), dtype=dtype)
    except ValueError as e:  # binascii.Error is one; and a length that is not whole values
        raise ValueError(f"{field}: not base64 of {dtype} values ({e})") from None
    if values.size != count:
        raise ValueError(f"{field}: {values.size} values for {count} {of}")
    return values
