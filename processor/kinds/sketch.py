"""DDSketch-compatible latency stores as fixed-range numpy arrays.

Bucket keys are exactly those of ``ddsketch.LogarithmicMapping(0.01).key(v)``, so a store exports to
and merges with a ``ddsketch.DDSketch`` (and Datadog's other libraries through its protobuf).

Why a fixed key range: a sub-window's store is then a plain ``int64`` array, merging sub-windows is
array addition, and memory per store is a constant (``NUM_BINS * 8`` bytes, about 10 KB). The range
covers ``MIN_TRACKABLE_MS`` (1 µs) to ``MAX_TRACKABLE_MS`` (10^8 ms, about 27.8 h) with 1 % relative
accuracy. Outside it values are clipped, not lost: a positive value below 1 µs counts in the lowest
bucket, a value above 27.8 h in the highest (and ``clipped`` says how many were), and 0 counts as
zero, like DDSketch's ``zero_count``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "MAX_TRACKABLE_MS",
    "MIN_TRACKABLE_MS",
    "NUM_BINS",
    "RELATIVE_ACCURACY",
    "LatencyStore",
    "bucket_value",
    "keys_of",
]

RELATIVE_ACCURACY = 0.01
_GAMMA_MANTISSA = 2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY)
GAMMA = 1 + _GAMMA_MANTISSA
# Computed in the same order as ddsketch's LogarithmicMapping so that the float is bit-identical.
_MULTIPLIER = 1 / math.log1p(_GAMMA_MANTISSA)
_MULTIPLIER *= math.log(2)
_LN2 = math.log(2)

MIN_TRACKABLE_MS = 1e-3
MAX_TRACKABLE_MS = 1e8
MIN_KEY = int(math.ceil(math.log(MIN_TRACKABLE_MS, 2) * _MULTIPLIER))
MAX_KEY = int(math.ceil(math.log(MAX_TRACKABLE_MS, 2) * _MULTIPLIER))
NUM_BINS = MAX_KEY - MIN_KEY + 1

# Where numpy's vectorised log lands within this distance of an integer, the key is recomputed with
# math.log: numpy's log may differ from libm's by an ulp, and only there can that change the ceil.
_BOUNDARY_EPS = 1e-9


def _key_scalar(value_ms: float) -> int:
    return int(math.ceil(math.log(value_ms, 2) * _MULTIPLIER))


def keys_of(values_ms: np.ndarray) -> np.ndarray:
    """DDSketch keys of strictly positive values, vectorised, identical to the library's."""
    y = np.log(values_ms) / _LN2 * _MULTIPLIER
    keys = np.ceil(y)
    near = np.abs(y - np.rint(y)) < _BOUNDARY_EPS
    if near.any():
        idx = np.flatnonzero(near)
        keys[idx] = [_key_scalar(float(v)) for v in values_ms[idx]]
    return keys.astype(np.int64)


def bucket_value(key: int) -> float:
    """The representative value of a bucket, as ddsketch's ``mapping.value(key)`` computes it."""
    return math.pow(2.0, key / _MULTIPLIER) * (2.0 / (1 + GAMMA))


class LatencyStore:
    """Counts of latencies (ms) by DDSketch bucket over one sub-window, or a merge of several."""

    __slots__ = ("bins", "zero_count", "clipped")

    def __init__(self, bins: np.ndarray | None = None, zero_count: int = 0, clipped: int = 0):
        self.bins = np.zeros(NUM_BINS, dtype=np.int64) if bins is None else bins
        self.zero_count = zero_count
        self.clipped = clipped

    @property
    def count(self) -> int:
        return int(self.bins.sum()) + self.zero_count

    def add_many(self, values_ms: np.ndarray) -> None:
        """Insert a batch of non-negative, finite latencies (validated upstream)."""
        positive = values_ms[values_ms > 0]
        self.zero_count += int(values_ms.size - positive.size)
        if positive.size == 0:
            return
        idx = keys_of(positive) - MIN_KEY
        out_of_range = (idx < 0) | (idx >= NUM_BINS)
        if out_of_range.any():
            self.clipped += int(out_of_range.sum())
            np.clip(idx, 0, NUM_BINS - 1, out=idx)
        self.bins += np.bincount(idx, minlength=NUM_BINS)

    def merge(self, other: LatencyStore) -> None:
        self.bins += other.bins
        self.zero_count += other.zero_count
        self.clipped += other.clipped

    def copy(self) -> LatencyStore:
        return LatencyStore(self.bins.copy(), self.zero_count, self.clipped)

    def quantile(self, q: float) -> float | None:
        """The q-quantile as DDSketch's ``get_quantile_value`` answers it; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        if rank < self.zero_count:
            return 0.0
        cumulative = np.cumsum(self.bins)
        # ddsketch's key_at_rank: the first bucket whose running count exceeds the rank.
        i = int(np.searchsorted(cumulative, rank - self.zero_count, side="right"))
        return bucket_value(min(i, NUM_BINS - 1) + MIN_KEY)

    def stat_value(self, stat: Any) -> float | None:
        """``count`` and quantiles (ms); None for what a sketch cannot say."""
        if stat.kind == "count":
            return float(self.count)
        return self.quantile(stat.q) if stat.kind == "quantile" else None

    def to_ddsketch(self):  # -> ddsketch.DDSketch; imported lazily: export is not on the hot path
        from ddsketch import DDSketch

        sketch = DDSketch(RELATIVE_ACCURACY)
        for i in np.flatnonzero(self.bins):
            sketch._store.add(int(i) + MIN_KEY, float(self.bins[i]))
        sketch._zero_count += float(self.zero_count)
        sketch._count += float(self.count)
        return sketch

    # -- snapshot: sparse, because most buckets of a sub-window are empty
    def snapshot(self) -> dict:
        nz = np.flatnonzero(self.bins)
        return {"k": nz.tolist(), "c": self.bins[nz].tolist(), "z": self.zero_count, "x": self.clipped}

    @classmethod
    def restore(cls, data: dict) -> LatencyStore:
        store = cls(zero_count=int(data["z"]), clipped=int(data["x"]))
        store.bins[np.asarray(data["k"], dtype=np.int64)] = np.asarray(data["c"], dtype=np.int64)
        return store
