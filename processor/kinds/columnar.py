"""Predicates evaluated over a column of payloads at once, for the batched engine.

Only the two forms the hot subjects use: ``field < number`` (any order comparison, a top-level
field) and a bare ``field`` (a bool). Anything else is left to the per-event predicate (None), and
so is every payload where it might answer otherwise or raise (a missing field, a value of another
type, an int too large for a float to compare exactly): the answer is then ``(column, odd)``, the
rows of ``odd`` for the per-event function to decide (their values here mean nothing), so that a
few garbage payloads do not send the whole batch to it. The semantics stay in
processor/config/predicate.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from processor.config.predicate import Predicate

__all__ = ["ColumnResult", "bools", "column_predicate", "number_column", "numbers", "numbers_or_odd", "or_odd"]

# A column of every payload; or (column, odd): the rows of ``odd`` left to the per-event function;
# or None: the whole batch left to it.
ColumnResult = "np.ndarray | tuple[np.ndarray, np.ndarray] | None"
ColumnFn = Callable[[list], ColumnResult]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ORDER_RE = re.compile(rf"({_NAME})\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)")
_TRUTH_RE = re.compile(_NAME)
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_ORDER = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_EXACT_INT = 2**53  # past it an int compared as a float may round onto the literal
_NUMBER_DTYPES = (np.dtype(np.int64), np.dtype(np.float64))
_NUMBER_TYPES, _BOOL_TYPES = {int, float}, {bool}
_INT_TYPE, _FLOAT_TYPE = {int}, {float}
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


def column_predicate(predicate: Predicate | None) -> ColumnFn | None:
    """A function of a list of payloads: the predicate of each as a bool array, or None when some
    payload needs the per-event predicate; None when the predicate is not of a columnar form."""
    if predicate is None:
        return None
    text = predicate.text
    match = _ORDER_RE.fullmatch(text)
    if match is not None and match.group(1) not in _KEYWORDS:
        key, op, raw = match.groups()
        return _order(key, _ORDER[op], float(raw) if "." in raw else int(raw))
    if _TRUTH_RE.fullmatch(text) and text not in _KEYWORDS:
        return _truth(text)
    return None


def number_column(payloads: list, key: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Every payload's top-level number ``key`` as float64 (an int rounded first, as Python's
    ``int * float`` rounds it), and None; or, when some payload lacks it, holds anything but an
    int or a float, or an int past int64, the rows where it does (``numbers_or_odd``): the kind's
    per-event observer decides those."""
    raw = _values(payloads, key)
    column = numbers(raw)
    if column is None:
        return numbers_or_odd(raw)
    return column if column.dtype == np.float64 else column.astype(np.float64), None  # round to nearest, as float(int) does


def numbers(raw: list) -> np.ndarray | None:
    """``raw`` as an int64 (every value an int) or float64 array (ints and floats: each int
    rounded to the nearest float), or None when a value is anything else or an int that int64
    cannot hold beside the others.

    The types are looked at first (one C pass), not left to numpy's discovery: that makes a
    string among numbers a fixed-width string array of them all, each as wide as the longest, so
    one hostile 1 MB string in a batch of 1000 would take 4 GB; and it takes a bool for 0 or 1."""
    types = set(map(type, raw))
    try:
        # One type given, numpy converts without discovering it (about half the time for ints).
        if types == _INT_TYPE:
            return np.fromiter(raw, np.int64, len(raw))
        if types == _FLOAT_TYPE:
            return np.fromiter(raw, np.float64, len(raw))
        if not types <= _NUMBER_TYPES:
            return None
        column = np.array(raw)
    except (ValueError, OverflowError, TypeError):
        return None  # an int past int64
    if column.ndim != 1 or column.dtype not in _NUMBER_DTYPES:
        return None  # an int past int64 (object, uint64)
    return column


_MISSING = object()  # what _values reads for a payload without the key (no number, no bool)


def numbers_or_odd(raw: list) -> tuple[np.ndarray, np.ndarray]:
    """``raw`` (``_values``) as float64, and the rows where it is not a plain number (missing,
    another type, a magnitude of 2**53 or more, which a float64 may not hold or compare
    exactly): 0 there. For a batch ``numbers`` turned down: the odd rows are found in one pass
    and zeroed, the rest converted as ``numbers`` converts them."""
    odd_rows = [r for r, v in enumerate(raw) if type(v) not in _NUMBER_TYPES]
    raw = raw.copy()
    for r in odd_rows:
        raw[r] = 0
    column = numbers(raw)
    if column is None:  # an int past int64 beside the others
        big = [r for r, v in enumerate(raw) if abs(v) >= _EXACT_INT]
        for r in big:
            raw[r] = 0
        odd_rows += big
        column = numbers(raw)
    column = column.astype(np.float64)
    odd = np.abs(column) >= _EXACT_INT
    odd[odd_rows] = True
    column[odd] = 0
    return column, odd


def _bools_or_odd(raw: list) -> tuple[np.ndarray, np.ndarray]:
    odd_rows = [r for r, v in enumerate(raw) if type(v) is not bool]
    raw = raw.copy()
    for r in odd_rows:
        raw[r] = False
    odd = np.zeros(len(raw), dtype=bool)
    odd[odd_rows] = True
    return np.fromiter(raw, bool, len(raw)), odd


def or_odd(column: np.ndarray, odd: np.ndarray) -> ColumnResult:
    """``(column, odd)``; None when every row is odd (the per-event function takes them all)."""
    return None if odd.all() else (column, odd)


def bools(raw: list) -> np.ndarray | None:
    """``raw`` as a bool array when every value is a bool (checked first: see ``numbers``)."""
    if not raw:
        return np.zeros(0, dtype=bool)
    if set(map(type, raw)) != _BOOL_TYPES:
        return None
    return np.fromiter(raw, bool, len(raw))


def _values(payloads: list, key: str) -> list:
    """Every payload's top-level ``key``; ``_MISSING`` where it has none."""
    return [p.get(key, _MISSING) for p in payloads]


def _order(key: str, op: np.ufunc, literal: int | float) -> ColumnFn:
    exact_literal = type(literal) is int and abs(literal) < _EXACT_INT

    def order_many(payloads: list) -> ColumnResult:
        values = _values(payloads, key)
        column = numbers(values)
        if column is None:  # a bool, a string, null: the per-event predicate says which error
            column, odd = numbers_or_odd(values)
            return or_odd(op(column, literal), odd)
        if column.dtype == np.int64 and exact_literal:
            return op(column, literal)  # ints against an int: exact, as Python compares them
        if column.dtype == np.int64:
            column = column.astype(np.float64)
        # An int past 2**53 may have been rounded onto the literal (and a float column may hold
        # such ints): left to the per-event predicate.
        if len(column) and max(_MAX(column), -_MIN(column)) >= _EXACT_INT:
            odd = np.abs(column) >= _EXACT_INT
            return or_odd(op(np.where(odd, 0, column), literal), odd)
        return op(column, literal)

    return order_many


def _truth(key: str) -> ColumnFn:
    def truth_many(payloads: list) -> ColumnResult:
        values = _values(payloads, key)
        column = bools(values)
        return column if column is not None else or_odd(*_bools_or_odd(values))

    return truth_many
