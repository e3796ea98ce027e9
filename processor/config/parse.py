"""Parsers for the quantities a config file writes as text.

- durations ``250ms``, ``10s``, ``5m``, ``1h30m``, ``7d``, ``1w`` -> int milliseconds;
- latency thresholds ``150ms``, ``4s``, ``500us``, ``1.5s`` -> float milliseconds;
- ratios ``0.05%``, ``99.9%`` or a plain fraction ``0.999`` -> float fraction;
- conditions ``p95 > 150ms``, ``p99.9 >= 1s``, ``bad_ratio > 0.05%``, ``count < 1``,
  ``since_last > 30s``, ``bad_for > 1m``, ``sum > 50``, ``max > 10s`` -> Condition.

Every parser raises ``ValueError`` with a message meant for the person who wrote the config. Decimal
arithmetic keeps ``99.9%`` exactly ``0.999`` and ``p99.9`` exactly ``q=0.999``.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation

from processor.config.model import Condition, Stat
from processor.vocabulary import GAUGE_STATS, STAT_NAMES

__all__ = [
    "DURATION_UNITS_MS",
    "LATENCY_UNITS_MS",
    "parse_stat",
    "check_subject_pattern",
    "format_duration",
    "parse_condition",
    "parse_duration_ms",
    "parse_fraction",
    "parse_latency_ms",
    "subject_pattern_matches",
    "threshold_unit",
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
_COUNT_STATS = ("count", "bad_count")
_TIME_STATS = ("since_last", "bad_for")  # thresholds are durations, like a quantile's
# A gauge's threshold (GAUGE_STATS) is a plain number in the payload field's own unit, or, for a
# gauge whose SLI declares a time unit, a duration; whether the unit fits the SLI is checked by the
# loader. STAT_NAMES: every stat a config may write, besides pNN (``burn_rate`` is built by the
# engine for budget tiers).
_STAT_LIST = (  # every name of STAT_NAMES, for people (tests/unit/test_vocabulary.py)
    "pNN (p50, p95, p99.9), good_ratio, bad_ratio (the error rate), bad_count, count, since_last, "
    "last, min, max, avg, sum or bad_for"
)
# Names from other tools, and what they are called here.
_STAT_ALIASES = {
    "error_rate": "bad_ratio",
    "errors": "bad_count",
    "error_count": "bad_count",
    "success_rate": "good_ratio",
    "mean": "avg",
    "average": "avg",
    "total": "sum",
    "current": "last",
    "value": "last",
    "age": "since_last",
    "staleness": "since_last",
    "down_for": "bad_for",
}


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


def parse_stat(name: str) -> Stat:
    m = _QUANTILE_RE.fullmatch(name)
    if m is not None:
        percent = _decimal(m.group(1))
        if not 0 < percent <= 100:
            raise ValueError(f"quantile {name!r} is out of range: use p0.1 .. p100")
        return Stat(kind="quantile", q=float(percent / 100))
    if name in STAT_NAMES:
        return Stat(kind=name)  # type: ignore[arg-type]
    if name == "burn_rate":
        raise ValueError(
            "burn_rate is not written in rules: burn-rate alerts come from an SLO's budget.burn_alerts catalogue"
        )
    alias = _STAT_ALIASES.get(name.lower())
    if alias is None:
        close = difflib.get_close_matches(name, STAT_NAMES, n=1, cutoff=0.75)
        alias = close[0] if close else None
    hint = f"did you mean {alias!r}? " if alias else ""
    raise ValueError(f"unknown stat {name!r}: {hint}use {_STAT_LIST}")


def _plain_number(rhs: str, what: str, signed: bool) -> float:
    """A threshold without a unit; ``$50`` and ``70%`` are explained rather than guessed at."""
    negative = signed and rhs.startswith("-")
    body = rhs[1:].lstrip() if negative else rhs
    if body.startswith("$") and re.fullmatch(_NUMBER, body[1:].strip()):
        raise ValueError(
            f"write the plain number {body[1:].strip()}, not {rhs!r}: a threshold carries no currency, "
            "it is in the unit of the payload field (cost_usd, say)"
        )
    if body.endswith("%") and re.fullmatch(_NUMBER, body[:-1].strip()):
        raise ValueError(
            f"write the plain number {body[:-1].strip()}, not {rhs!r}: {what} is compared with the payload's "
            "number as it is (a field such as cpu_pct already holds 70 for 70 %)"
        )
    if re.fullmatch(_NUMBER, body) is None:
        sign = "" if signed else "non-negative "
        raise ValueError(f"{what} is a {sign}number, got {rhs!r}")
    value = float(_decimal(body))
    return -value if negative else value


def _gauge_threshold(rhs: str) -> float:
    """A plain number (any sign) or, for a gauge with a time unit, a signed duration -> ms."""
    negative = rhs.startswith("-")
    body = rhs[1:].lstrip() if negative else rhs
    m = _QUANTITY_RE.fullmatch(body)
    if m is not None and m.group(2) and m.group(2) in LATENCY_UNITS_MS:
        value = parse_latency_ms(body)
        return -value if negative else value
    return _plain_number(rhs, "a gauge threshold", signed=True)


def parse_condition(value: str) -> Condition:
    """``p95 > 150ms`` -> Condition(Stat(quantile, 0.95), ">", 150.0).

    The threshold is normalised by the stat: a duration with a unit -> ms for quantiles,
    ``since_last`` and ``bad_for``; a percentage or fraction for ratios; a plain non-negative number
    for ``count`` and ``bad_count``; a plain number of any sign (or a signed duration -> ms, for a
    gauge with a time unit) for ``last``, ``min``, ``max``, ``avg`` and ``sum``.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected a condition such as 'p95 > 150ms' or 'bad_ratio > 0.1%', got {value!r}")
    text = value.strip()
    m = _CONDITION_RE.fullmatch(text)
    if m is None or not text:
        raise ValueError(f"expected a condition such as 'p95 > 150ms' or 'bad_ratio > 0.1%', got {text!r}")
    stat_name, op, rhs = m.groups()
    stat = parse_stat(stat_name)
    if op is None:
        raise ValueError(f"expected a comparison >, >=, < or <= after {stat_name!r} in {text!r}")
    if op in ("==", "!=", "="):
        raise ValueError(f"{op!r} is not a threshold comparison: use >, >=, < or <= in {text!r}")
    if op in ("=>", "=<"):
        raise ValueError(f"{op!r} is not an operator: write {op[::-1]!r} in {text!r}")
    if not rhs or rhs[0] in "<>=!":
        raise ValueError(f"expected a threshold after {op!r} in {text!r}")
    if stat.kind == "quantile" or stat.kind in _TIME_STATS:
        threshold = parse_latency_ms(rhs)
    elif stat.kind in _COUNT_STATS:
        threshold = _plain_number(rhs, "a count threshold", signed=False)
    elif stat.kind in GAUGE_STATS:
        threshold = _gauge_threshold(rhs)
    else:
        threshold = parse_fraction(rhs)
    return Condition(stat=stat, op=op, threshold=threshold, text=text)  # type: ignore[arg-type]


def threshold_unit(condition: Condition) -> str:
    """The unit written after a condition's threshold (``ms`` in ``max > 10ms``, ``%`` in
    ``bad_ratio > 1%``), or ``""`` for a plain number; the loader checks a gauge's against its SLI."""
    m = _CONDITION_RE.fullmatch(condition.text)
    rhs = m.group(3) if m is not None else ""
    rhs = rhs[1:].lstrip() if rhs.startswith("-") else rhs
    q = _QUANTITY_RE.fullmatch(rhs)
    return q.group(2) if q is not None else ""


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


def subject_pattern_matches(pattern: str, subject: str) -> bool:
    """Whether the subject pattern ``pattern`` matches the literal ``subject`` (NATS rules)."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, p in enumerate(p_tokens):
        if p == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens) or (p != "*" and p != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)
