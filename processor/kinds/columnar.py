"""Predicates evaluated over a column of payloads at once, for the batched engine.

Only the two forms the hot subjects use: ``field < number`` (any order comparison, a top-level
field) and a bare ``field`` (a bool). Anything else, and any batch holding a payload where the
per-event predicate would raise (a missing field, a value of another type, an int too large for a
float to compare exactly), is left to the per-event predicate: the answer here is the same or
None, so the semantics stay in processor/config/predicate.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from processor.config.predicate import Predicate

__all__ = ["column_predicate", "number_column"]

ColumnFn = Callable[[list], "np.ndarray | None"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ORDER_RE = re.compile(rf"({_NAME})\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)")
_TRUTH_RE = re.compile(_NAME)
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_ORDER = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_EXACT_INT = 2**53  # past it an int compared as a float may round onto the literal
_NUMBERS = {int, float}
_INTS = {int}


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


def number_column(payloads: list, key: str) -> np.ndarray | None:
    """Every payload's top-level number ``key`` as float64 (an int rounded first, as Python's
    ``int * float`` rounds it), or None when one lacks it, holds anything but an int or a float,
    or overflows a float: the kind's per-event observer then decides each payload."""
    raw = _values(payloads, key)
    if raw is None or not set(map(type, raw)) <= _NUMBERS:
        return None
    try:
        return np.array(raw, dtype=np.float64)
    except OverflowError:
        return None


def _values(payloads: list, key: str) -> list | None:
    try:
        return [p[key] for p in payloads]
    except KeyError:
        return None


def _order(key: str, op: np.ufunc, literal: int | float) -> ColumnFn:
    def order_many(payloads: list) -> np.ndarray | None:
        values = _values(payloads, key)
        if values is None:
            return None
        types = set(map(type, values))
        if not types <= _NUMBERS:
            return None  # a bool, a string, null: the per-event predicate says which error
        if types == _INTS and type(literal) is int and abs(literal) < _EXACT_INT:
            # Ints against an int: compared exactly as int64, as Python compares them.
            try:
                return op(np.array(values, dtype=np.int64), literal)
            except OverflowError:
                return None
        try:
            column = np.array(values, dtype=np.float64)
        except OverflowError:
            return None
        if int in types and len(column) and max(column.max(), -column.min()) >= _EXACT_INT:
            return None
        return op(column, literal)

    return order_many


def _truth(key: str) -> ColumnFn:
    def truth_many(payloads: list) -> np.ndarray | None:
        values = _values(payloads, key)
        if values is None or set(map(type, values)) - {bool}:
            return None
        return np.array(values, dtype=bool)

    return truth_many
