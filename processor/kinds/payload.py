"""Reading fields out of decoded payloads, for every kind; a field that cannot be read raises
``Reject`` with the reason that the engine counts and the shell dead-letters."""

from __future__ import annotations

from typing import Any

__all__ = ["Reject", "field_path", "lookup", "read_number", "read_text"]


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
    return v if type(v) is str else str(v)


# NaN and Infinity need no check here: they are not JSON, so orjson rejects them as ``not_json``.
