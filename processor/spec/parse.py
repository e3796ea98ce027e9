"""Parsers for the quantities a config file writes as text.

- durations ``250ms``, ``10s``, ``5m``, ``1h30m``, ``7d``, ``1w`` -> int milliseconds;
- latency thresholds ``150ms``, ``4s``, ``500us``, ``1.5s`` -> float milliseconds;
- ratios ``0.05%``, ``99.9%`` or a plain fraction ``0.999`` -> float fraction;
- conditions ``p95 > 150ms``, ``p99.9 >= 1s``, ``bad_ratio > 0.05%``, ``count < 1`` -> Condition.

Every parser raises ``ValueError`` with a message meant for the person who wrote the config. Decimal
arithmetic keeps ``99.9%`` exactly ``0.999`` and ``p99.9`` exactly ``q=0.999``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from processor.spec.model import Condition, Stat

__all__ = [
    "DURATION_UNITS_MS",
    "LATENCY_UNITS_MS",
    "check_subject_pattern",
    "format_duration",
    "parse_condition",
    "parse_duration_ms",
    "parse_fraction",
    "parse_latency_ms",
]

DURATION_UNITS_MS: dict[str, int] = {
    "w": 604_800_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
LATENCY_UNITS_MS: dict[str, Decimal] = {
    "ns": Decimal("0.000001"),
    "us": Decimal("0.001"),
    "µs": Decimal("0.001"),
    "ms": Decimal(1),
    "s": Decimal(1000),
    "m": Decimal(60_000),
    "h": Decimal(3_600_000),
}

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART_RE = re.compile(r"(\d+)([a-zµ]+)")
_DURATION_RE = re.compile(r"(?:\d+[a-zµ]+)+")
_QUANTITY_RE = re.compile(rf"({_NUMBER})\s*([a-zµ%]*)", re.IGNORECASE)
_CONDITION_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|!=|=>|=<|>|<|=)?\s*(.*?)\s*")
_QUANTILE_RE = re.compile(r"p(\d+(?:\.\d+)?)")
_RATIO_STATS = ("good_ratio", "bad_ratio")


def _reject_non_text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected {what}, got {value!r}")
    return str(value).strip()


def parse_duration_ms(value: str | int) -> int:
    """``5m`` -> 300000. Whole numbers of ``ms s m h d w``, combinable largest first (``1h30m``).
    A bare ``0`` is accepted; any other number needs a unit."""
    text = _reject_non_text(value, "a duration such as 30s, 5m or 1h")
    if text == "0":
        return 0
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative, got {text!r}")
    if _DURATION_RE.fullmatch(text) is None:
        if re.fullmatch(_NUMBER, text):
            raise ValueError(f"missing unit in {text!r}: write e.g. {text}s or {text}ms")
        if re.fullmatch(rf"{_NUMBER}[a-zµ]+", text):
            raise ValueError(
                f"a duration is a whole number of a unit, got {text!r}: use a smaller unit (90s, not 1.5m)"
            )
        raise ValueError(f"expected a duration such as 30s, 5m or 1h30m, got {text!r}")
    total_ms = 0
    last_unit_ms = None
    for m in _DURATION_PART_RE.finditer(text):
        number, unit = m.groups()
        unit_ms = DURATION_UNITS_MS.get(unit)
        if unit_ms is None:
            raise ValueError(f"unknown unit {unit!r} in {text!r}: use ms, s, m, h, d or w")
        if last_unit_ms is not None and unit_ms >= last_unit_ms:
            raise ValueError(f"units in {text!r} must go from largest to smallest, as in 1h30m")
        last_unit_ms = unit_ms
        total_ms += int(number) * unit_ms
    return total_ms


def format_duration(duration_ms: int) -> str:
    """The inverse of :func:`parse_duration_ms` for messages: 300000 -> ``5m``, 5400000 -> ``1h30m``.

    Weeks only for whole weeks: 7 days is ``1w``, but 30 days is ``30d``, as budgets are written,
    not ``4w2d``."""
    if duration_ms == 0:
        return "0s"
    sign = "-" if duration_ms < 0 else ""
    rest = abs(duration_ms)
    parts = []
    week_ms = DURATION_UNITS_MS["w"]
    for unit, unit_ms in DURATION_UNITS_MS.items():
        if unit == "w" and rest % week_ms:
            continue
        count, rest = divmod(rest, unit_ms)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _decimal(number: str) -> Decimal:
    try:
        return Decimal(number)
    except InvalidOperation:  # pragma: no cover - the regexes only let numbers through
        raise ValueError(f"not a number: {number!r}") from None


def parse_latency_ms(value: str) -> float:
    """``150ms`` -> 150.0, ``1.5s`` -> 1500.0, ``500us`` -> 0.5. A unit is required."""
    text = _reject_non_text(value, "a latency such as 150ms or 1.5s")
    if text.startswith("-"):
        raise ValueError(f"a latency cannot be negative, got {text!r}")
    m = _QUANTITY_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"expected a latency such as 150ms, 1.5s or 500us, got {text!r}")
    number, unit = m.groups()
    if not unit:
        raise ValueError(f"missing unit in {text!r}: write e.g. {text}ms or {text}s")
    factor = LATENCY_UNITS_MS.get(unit)
    if factor is None:
        raise ValueError(f"unknown latency unit {unit!r} in {text!r}: use ns, us, ms, s, m or h")
    return float(_decimal(number) * factor)


def parse_fraction(value: str | float) -> float:
    """``99.9%`` -> 0.999, ``0.05%`` -> 0.0005, ``0.999`` -> 0.999. The result is in [0, 1]."""
    text = _reject_non_text(value, "a percentage such as 99.9% or a fraction such as 0.999")
    if text.startswith("-"):
        raise ValueError(f"a ratio cannot be negative, got {text!r}")
    m = _QUANTITY_RE.fullmatch(text)
    if m is None or m.group(2) not in ("", "%"):
        raise ValueError(f"expected a percentage such as 99.9% or a fraction such as 0.999, got {text!r}")
    number, percent = m.groups()
    amount = _decimal(number)
    if percent:
        if amount > 100:
            raise ValueError(f"a percentage cannot exceed 100%, got {text!r}")
        return float(amount / 100)
    if amount > 1:
        raise ValueError(f"a fraction must be between 0 and 1, got {text!r}: for a percentage write {text}%")
    return float(amount)


def _parse_stat(name: str) -> Stat:
    m = _QUANTILE_RE.fullmatch(name)
    if m is not None:
        percent = _decimal(m.group(1))
        if not 0 < percent <= 100:
            raise ValueError(f"quantile {name!r} is out of range: use p0.1 .. p100")
        return Stat(kind="quantile", q=float(percent / 100))
    if name in _RATIO_STATS or name == "count":
        return Stat(kind=name)  # type: ignore[arg-type]
    raise ValueError(
        f"unknown stat {name!r}: use pNN (p50, p95, p99.9), good_ratio, bad_ratio (the error rate) or count"
    )


def parse_condition(value: str) -> Condition:
    """``p95 > 150ms`` -> Condition(Stat(quantile, 0.95), ">", 150.0).

    The threshold is normalised by the stat: a latency with a unit -> ms for quantiles, a percentage
    or fraction for ratios, a plain non-negative number for ``count``.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a condition such as 'p95 > 150ms' or 'bad_ratio > 0.1%', got {value!r}")
    text = value.strip()
    m = _CONDITION_RE.fullmatch(text)
    if m is None or not text:
        raise ValueError(f"expected a condition such as 'p95 > 150ms' or 'bad_ratio > 0.1%', got {text!r}")
    stat_name, op, rhs = m.groups()
    stat = _parse_stat(stat_name)
    if op is None:
        raise ValueError(f"expected a comparison >, >=, < or <= after {stat_name!r} in {text!r}")
    if op in ("==", "!=", "="):
        raise ValueError(f"{op!r} is not a threshold comparison: use >, >=, < or <= in {text!r}")
    if op in ("=>", "=<"):
        raise ValueError(f"{op!r} is not an operator: write {op[::-1]!r} in {text!r}")
    if not rhs or rhs[0] in "<>=!":
        raise ValueError(f"expected a threshold after {op!r} in {text!r}")
    if stat.kind == "quantile":
        threshold = parse_latency_ms(rhs)
    elif stat.kind == "count":
        if rhs.startswith("-") or re.fullmatch(_NUMBER, rhs) is None:
            raise ValueError(f"a count threshold is a non-negative number, got {rhs!r}")
        threshold = float(_decimal(rhs))
    else:
        threshold = parse_fraction(rhs)
    return Condition(stat=stat, op=op, threshold=threshold, text=text)  # type: ignore[arg-type]


def check_subject_pattern(value: str) -> str:
    """Return ``value`` if it is a NATS subject pattern, else raise ValueError saying what is wrong.

    Tokens are separated by ``.`` and may not be empty or contain whitespace; ``*`` matches one
    whole token and ``>`` the rest of the subject, so it may only be the last token.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("expected a NATS subject such as trade.order.submitted or market.quote.*")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"a subject cannot contain whitespace, got {value!r}")
    tokens = value.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise ValueError(f"empty token in subject {value!r}: no leading, trailing or doubled '.'")
        if token == ">":
            if i != len(tokens) - 1:
                raise ValueError(f"'>' matches the rest of the subject and must be the last token, in {value!r}")
        elif token != "*" and ("*" in token or ">" in token):
            raise ValueError(f"wildcards '*' and '>' must be whole tokens, got {token!r} in {value!r}")
    return value
