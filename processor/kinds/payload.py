"""Reading fields out of decoded payloads, for every kind; a field that cannot be read raises
``Reject`` with the reason that the engine counts and the shell dead-letters."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["MAX_TEXT_CHARS", "Reject", "bounded_text", "field_path", "lookup", "read_number", "read_text"]

# Text read from a payload (label values, state entities, correlation ids) is kept in memory per
# distinct value, so its length is bounded: a producer sending 1 MB label values must not turn a
# 1,000-series cap into a gigabyte. Longer text keeps a readable prefix and a digest of the whole,
# so distinct values stay distinct.
MAX_TEXT_CHARS = 256
_PREFIX_CHARS = MAX_TEXT_CHARS - 17  # then "…" and 16 hex digits of the digest


class Reject(Exception):
    """Internal: the event cannot be applied to an SLI. Never escapes the engine."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def field_path(field: str | None) -> tuple[str, ...]:
    """``"a.b"`` -> ``("a", "b")``; no field -> ``()``."""
    return tuple(field.split(".")) if field else ()


def lookup(payload: dict, path: tuple[str, ...]) -> Any:
    value: Any = payload
    for part in path:
        if type(value) is not dict or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


def read_number(payload: dict, path: tuple[str, ...], field: str) -> float:
    try:
        v = payload[path[0]] if len(path) == 1 else lookup(payload, path)
    except KeyError:
        raise Reject("missing_field", field) from None
    t = type(v)
    if t is not float and t is not int:
        raise Reject("bad_value", f"{field}: expected a number, got {t.__name__}")
    return v


def read_text(payload: dict, path: tuple[str, ...], field: str) -> str:
    try:
        v = lookup(payload, path)
    except KeyError:
        raise Reject("missing_field", field) from None
    return bounded_text(v)


def bounded_text(v: Any) -> str:
    """``v`` as text of at most MAX_TEXT_CHARS characters (see above); never raises."""
    if type(v) is not str:
        try:
            v = str(v)
        except RecursionError:
            # orjson decodes up to 1024 levels; repr() gives up before that. Such a value is
            # garbage, and one name for all of it keeps it from spreading into many series.
            v = f"<{type(v).__name__} nested too deep>"
    if len(v) <= MAX_TEXT_CHARS:
        return v
    digest = hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{v[:_PREFIX_CHARS]}…{digest}"


# NaN and Infinity need no check here: they are not JSON, so orjson rejects them as ``not_json``.
