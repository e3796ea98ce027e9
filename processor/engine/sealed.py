"""A series' sub-windows old enough that nothing can change them, packed as numpy columns.

A 30-day horizon of 10-second sub-windows (ai_decision_cost's calendar month) is 259,200 buckets:
as ``Gauge`` objects, each with its floats, ints and dict slot, that is ~270 bytes a sub-window
(70 MB), and after a restore the decoded document's numbers stay scattered through the heap
besides. Sealed, a gauge sub-window is 56 bytes of arrays and a count one 24. Only ``Counts``
and ``Gauge`` buckets are sealed (the kinds' sketches stay objects: few of them are that old).

Reads of sealed sub-windows are rare (windows longer than the hour kept live, engine/series.py),
so a bucket is made again from its columns when one is read (``bucket``): window statistics are
computed by the buckets' own ``merge`` and ``stat_value`` whichever storage they came from.
"""

from __future__ import annotations

import numpy as np

from processor.engine.packing import pack_floats, pack_ints, unpack_floats, unpack_ints
from processor.kinds.buckets import Counts, Gauge

__all__ = ["Sealed"]

# Per bucket type: its name in a snapshot, and its columns (name, integer or float).
_COUNTS_COLUMNS = (("good", int), ("total", int))
_GAUGE_COLUMNS = (("count", int), ("sum", float), ("min", float), ("max", float), ("last_ts", int), ("last", float))
_LAYOUT = {Counts: ("counts", _COUNTS_COLUMNS), Gauge: ("gauge", _GAUGE_COLUMNS)}
_BY_NAME = {name: (cls, columns) for cls, (name, columns) in _LAYOUT.items()}


class Sealed:
    """Sub-window starts (increasing) and one array per field of their buckets."""

    __slots__ = ("cls", "starts", "columns")

    def __init__(self, cls: type, starts: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        self.cls = cls
        self.starts = starts
        self.columns = columns

    @staticmethod
    def sealable(bucket: object) -> bool:
        return type(bucket) in _LAYOUT

    @classmethod
    def of(cls, items: list[tuple[int, object]]) -> Sealed:
        """``items``: (start, bucket) in increasing start order, all of one sealable type."""
        bucket_cls = type(items[0][1])
        _, columns = _LAYOUT[bucket_cls]
        starts = np.fromiter((s for s, _ in items), dtype=np.int64, count=len(items))
        arrays = {name: np.fromiter((getattr(b, name) for _, b in items), dtype=np.int64 if t is int else np.float64,
                                    count=len(items)) for name, t in columns}
        return cls(bucket_cls, starts, arrays)

    def __len__(self) -> int:
        return self.starts.size

    def extended(self, later: Sealed) -> Sealed:
        """These sub-windows followed by ``later``'s (all after them), as new arrays."""
        if later.cls is not self.cls:
            raise ValueError(f"cannot seal {later.cls.__name__} buckets after {self.cls.__name__} ones")
        return Sealed(self.cls, np.concatenate((self.starts, later.starts)),
                      {k: np.concatenate((v, later.columns[k])) for k, v in self.columns.items()})

    def since(self, oldest_ms: int) -> Sealed | None:
        """The sub-windows starting at or after ``oldest_ms`` (None for none). Views: the arrays
        they were cut from are let go at the next seal, which builds new ones."""
        i = int(np.searchsorted(self.starts, oldest_ms, side="left"))
        if i == 0:
            return self
        if i == self.starts.size:
            return None
        return Sealed(self.cls, self.starts[i:], {k: v[i:] for k, v in self.columns.items()})

    def until(self, end_ms: int) -> Sealed | None:
        """The sub-windows starting before ``end_ms`` (None for none)."""
        i = int(np.searchsorted(self.starts, end_ms, side="left"))
        if i == self.starts.size:
            return self
        if i == 0:
            return None
        return Sealed(self.cls, self.starts[:i], {k: v[:i] for k, v in self.columns.items()})

    def index_range(self, lo_ms: int, hi_ms: int) -> range:
        """Positions of the sub-windows starting in [lo, hi)."""
        starts = self.starts
        return range(int(np.searchsorted(starts, lo_ms, side="left")), int(np.searchsorted(starts, hi_ms, side="left")))

    def bucket(self, i: int) -> object:
        """Sub-window ``i`` as its bucket type again (Python ints and floats, as live)."""
        b = self.cls.__new__(self.cls)
        for name, t in _LAYOUT[self.cls][1]:
            setattr(b, name, t(self.columns[name][i]))
        return b

    def items(self, lo_ms: int, hi_ms: int) -> list[tuple[int, object]]:
        return [(int(self.starts[i]), self.bucket(i)) for i in self.index_range(lo_ms, hi_ms)]

    def start_list(self) -> list[int]:
        return self.starts.tolist()

    # -- snapshot (version 5): n sub-windows, the first start and the steps between them, then
    # the columns (an event time as its offset into its sub-window: the narrowest width holds it)
    def snapshot(self) -> dict:
        name, columns = _LAYOUT[self.cls]
        starts = self.starts
        data: dict = {"type": name, "n": int(starts.size), "first": int(starts[0]), "steps": pack_ints(np.diff(starts))}
        for field, t in columns:
            values = self.columns[field] - starts if field == "last_ts" else self.columns[field]
            data[field] = pack_ints(values) if t is int else pack_floats(values)
        return data

    @classmethod
    def restore(cls, data: object) -> Sealed:
        """ValueError naming the field when ``data`` is not a sealed snapshot."""
        kind = data.get("type") if type(data) is dict else None
        if kind not in _BY_NAME or type(data.get("n")) is not int or data["n"] < 1 or type(data.get("first")) is not int:
            raise ValueError(f"sealed sub-windows: not a packed series of buckets ({str(data):.80})")
        bucket_cls, columns = _BY_NAME[kind]
        n = data["n"]
        starts = np.empty(n, dtype=np.int64)
        starts[0] = data["first"]
        starts[1:] = data["first"] + np.cumsum(unpack_ints(data.get("steps"), n - 1, "sealed steps"))
        arrays = {}
        for field, t in columns:
            where = f"sealed {field}"
            if t is float:
                arrays[field] = unpack_floats(data.get(field), n, where)
            else:
                arrays[field] = unpack_ints(data.get(field), n, where) + (starts if field == "last_ts" else 0)
        return cls(bucket_cls, starts, arrays)
