"""Quantities written as text in a config file (processor.config.parse)."""

from __future__ import annotations

import pytest

from processor.config.model import Condition, Stat
from processor.config.parse import (
    check_subject_pattern,
    format_duration,
    parse_condition,
    parse_duration_ms,
    parse_fraction,
    parse_latency_ms,
    subject_pattern_matches,
    threshold_unit,
)


def _ids(cases: list[tuple]) -> list[str]:
    return [c[0] for c in cases]


def _args(cases: list[tuple]) -> list[tuple]:
    return [c[1:] for c in cases]


DURATIONS = [
    ("milliseconds", "250ms", 250),
    ("seconds", "10s", 10_000),
    ("minutes", "5m", 300_000),
    ("hours", "1h", 3_600_000),
    ("days", "7d", 604_800_000),
    ("weeks", "1w", 604_800_000),
    ("a compound duration, largest unit first", "1h30m", 5_400_000),
    ("a compound duration down to milliseconds", "1s500ms", 1_500),
    ("a bare zero needs no unit", "0", 0),
    ("an integer zero from YAML", 0, 0),
    ("zero with a unit", "0s", 0),
    ("surrounding whitespace is ignored", " 30s ", 30_000),
]


@pytest.mark.parametrize(("text", "expected_ms"), _args(DURATIONS), ids=_ids(DURATIONS))
def test_parse_duration_ms(text: str, expected_ms: int) -> None:
    assert expected_ms == parse_duration_ms(text)


BAD_DURATIONS = [
    ("a negative duration", "-5s", "cannot be negative"),
    ("a missing unit", "300", "missing unit in '300'"),
    ("a missing unit on a YAML integer", 300, "missing unit in '300'"),
    ("an unknown unit", "5x", "unknown unit 'x'"),
    ("upper case units are not units", "5M", "expected a duration"),
    ("a fractional duration", "1.5m", "whole number of a unit"),
    ("units out of order", "30m1h", "largest to smallest"),
    ("a repeated unit", "1m1m", "largest to smallest"),
    ("a space inside", "5 m", "expected a duration"),
    ("an empty string", "", "expected a duration"),
    ("a bool from YAML", True, "expected a duration"),
]


@pytest.mark.parametrize(("text", "message"), _args(BAD_DURATIONS), ids=_ids(BAD_DURATIONS))
def test_parse_duration_ms_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ms(text)
    assert message in str(info.value)


FORMATTED = [
    ("zero", 0, "0s"),
    ("whole minutes", 300_000, "5m"),
    ("hours and minutes", 5_400_000, "1h30m"),
    ("a week", 604_800_000, "1w"),
    ("whole weeks", 2 * 604_800_000, "2w"),
    ("days that are not whole weeks stay days", 30 * 86_400_000, "30d"),
    ("days and hours", 8 * 86_400_000 + 3_600_000, "8d1h"),
    ("sub-second", 250, "250ms"),
]


@pytest.mark.parametrize(("duration_ms", "expected"), _args(FORMATTED), ids=_ids(FORMATTED))
def test_format_duration_is_the_inverse_of_parsing(duration_ms: int, expected: str) -> None:
    assert expected == format_duration(duration_ms)
    assert duration_ms == parse_duration_ms(expected)


LATENCIES = [
    ("milliseconds", "150ms", 150.0),
    ("seconds", "4s", 4000.0),
    ("microseconds", "500us", 0.5),
    ("microseconds with the micro sign", "500µs", 0.5),
    ("nanoseconds", "250000ns", 0.25),
    ("fractional seconds", "1.5s", 1500.0),
    ("minutes", "2m", 120_000.0),
    ("a space before the unit", "150 ms", 150.0),
    ("fractional milliseconds", "0.25ms", 0.25),
]


@pytest.mark.parametrize(("text", "expected_ms"), _args(LATENCIES), ids=_ids(LATENCIES))
def test_parse_latency_ms(text: str, expected_ms: float) -> None:
    assert expected_ms == parse_latency_ms(text)


BAD_LATENCIES = [
    ("a missing unit", "150", "missing unit in '150'"),
    ("an unknown unit", "150xs", "unknown latency unit 'xs'"),
    ("a negative latency", "-1ms", "cannot be negative"),
    ("not a number", "fast", "expected a latency"),
]


@pytest.mark.parametrize(("text", "message"), _args(BAD_LATENCIES), ids=_ids(BAD_LATENCIES))
def test_parse_latency_ms_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_latency_ms(text)
    assert message in str(info.value)


FRACTIONS = [
    ("a small percentage", "0.05%", 0.0005),
    ("three nines, exactly", "99.9%", 0.999),
    ("four nines, exactly", "99.99%", 0.9999),
    ("a hundred percent", "100%", 1.0),
    ("a plain fraction", "0.999", 0.999),
    ("a float from YAML", 0.95, 0.95),
    ("zero", "0", 0.0),
    ("one", "1", 1.0),
]


@pytest.mark.parametrize(("text", "expected"), _args(FRACTIONS), ids=_ids(FRACTIONS))
def test_parse_fraction(text: str, expected: float) -> None:
    assert expected == parse_fraction(text)


BAD_FRACTIONS = [
    ("a percentage written without %", "99.9", "for a percentage write 99.9%"),
    ("a float above 1 from YAML", 99.9, "for a percentage write 99.9%"),
    ("more than a hundred percent", "150%", "cannot exceed 100%"),
    ("a negative ratio", "-1%", "cannot be negative"),
    ("a unit that is not %", "5ms", "expected a percentage"),
]


@pytest.mark.parametrize(("text", "message"), _args(BAD_FRACTIONS), ids=_ids(BAD_FRACTIONS))
def test_parse_fraction_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_fraction(text)
    assert message in str(info.value)


def _cond(kind: str, op: str, threshold: float, text: str, q: float | None = None) -> Condition:
    return Condition(stat=Stat(kind=kind, q=q), op=op, threshold=threshold, text=text)  # type: ignore[arg-type]


CONDITIONS = [
    ("a p95 latency threshold", "p95 > 150ms", _cond("quantile", ">", 150.0, "p95 > 150ms", 0.95)),
    ("a fractional percentile", "p99.9 >= 1s", _cond("quantile", ">=", 1000.0, "p99.9 >= 1s", 0.999)),
    ("the median", "p50 < 50ms", _cond("quantile", "<", 50.0, "p50 < 50ms", 0.5)),
    ("the maximum", "p100 <= 2s", _cond("quantile", "<=", 2000.0, "p100 <= 2s", 1.0)),
    ("an error rate as a percentage", "bad_ratio > 0.05%", _cond("bad_ratio", ">", 0.0005, "bad_ratio > 0.05%")),
    ("a success ratio as a percentage", "good_ratio < 99.9%", _cond("good_ratio", "<", 0.999, "good_ratio < 99.9%")),
    ("a ratio as a plain fraction", "good_ratio < 0.999", _cond("good_ratio", "<", 0.999, "good_ratio < 0.999")),
    ("an event count", "count < 1", _cond("count", "<", 1.0, "count < 1")),
    ("no spaces around the operator", "p95>150ms", _cond("quantile", ">", 150.0, "p95>150ms", 0.95)),
    ("surrounding whitespace is trimmed", "  p95 > 150ms ", _cond("quantile", ">", 150.0, "p95 > 150ms", 0.95)),
    ("a count of bad events", "bad_count > 0", _cond("bad_count", ">", 0.0, "bad_count > 0")),
    ("time since the last event, as a duration", "since_last > 30s", _cond("since_last", ">", 30_000.0,
                                                                          "since_last > 30s")),
    ("how long a state has been bad", "bad_for > 1m", _cond("bad_for", ">", 60_000.0, "bad_for > 1m")),
    ("a fractional duration is a duration too", "bad_for >= 1.5s", _cond("bad_for", ">=", 1500.0,
                                                                         "bad_for >= 1.5s")),
    ("a gauge sum as a plain number", "sum > 50", _cond("sum", ">", 50.0, "sum > 50")),
    ("a gauge average with decimals", "avg > 0.10", _cond("avg", ">", 0.1, "avg > 0.10")),
    ("a negative gauge threshold", "min < -3", _cond("min", "<", -3.0, "min < -3")),
    ("a gauge of durations, with a unit", "max > 10s", _cond("max", ">", 10_000.0, "max > 10s")),
    ("a negative duration on a gauge of durations", "min < -5s", _cond("min", "<", -5000.0, "min < -5s")),
    ("the last value of a gauge", "last > 500", _cond("last", ">", 500.0, "last > 500")),
]


@pytest.mark.parametrize(("text", "expected"), _args(CONDITIONS), ids=_ids(CONDITIONS))
def test_parse_condition(text: str, expected: Condition) -> None:
    assert expected == parse_condition(text)


BAD_CONDITIONS = [
    ("an unknown stat", "p95x > 1ms", "unknown stat 'p95x'"),
    ("error_rate is spelled bad_ratio", "error_rate > 1%", "bad_ratio (the error rate)"),
    ("p0 is not a quantile", "p0 > 1ms", "out of range"),
    ("above p100 is not a quantile", "p101 > 1ms", "out of range"),
    ("equality is not a threshold", "p95 == 150ms", "'==' is not a threshold comparison"),
    ("a single equals sign", "p95 = 150ms", "'=' is not a threshold comparison"),
    ("a reversed operator", "p95 => 150ms", "write '>='"),
    ("a doubled operator", "p95 >> 150ms", "expected a threshold after '>'"),
    ("a missing operator", "p95 150ms", "expected a comparison"),
    ("a missing threshold", "p95 >", "expected a threshold after '>'"),
    ("a quantile threshold without a unit", "p95 > 150", "missing unit in '150'"),
    ("a ratio above 1 without %", "bad_ratio > 5", "for a percentage write 5%"),
    ("a negative count", "count < -1", "non-negative number"),
    ("a count with a unit", "count < 1ms", "non-negative number"),
    ("not a string", 95, "expected a condition"),
    ("an empty string", "", "expected a condition"),
    ("a dollar sign is explained", "sum > $50", "write the plain number 50, not '$50'"),
    ("a percent sign on a gauge is explained", "avg > 70%", "write the plain number 70, not '70%'"),
    ("since_last needs a unit", "since_last > 30", "missing unit in '30'"),
    ("bad_for cannot be negative", "bad_for > -1s", "cannot be negative"),
    ("a negative bad_count", "bad_count > -1", "a count threshold is a non-negative number"),
    ("a gauge threshold that is not a number", "last > many", "a gauge threshold is a number"),
    ("another tool's name gets this one's", "mean > 5", "did you mean 'avg'?"),
    ("a near miss gets a suggestion", "bad_fro > 1m", "did you mean 'bad_for'?"),
    ("burn rates come from budgets", "burn_rate > 2", "burn-rate alerts come from an SLO's budget.burn_alerts"),
]


@pytest.mark.parametrize(("text", "message"), _args(BAD_CONDITIONS), ids=_ids(BAD_CONDITIONS))
def test_parse_condition_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    assert message in str(info.value)


UNITS = [
    ("a plain number has none", "sum > 50", ""),
    ("a duration", "max > 10s", "s"),
    ("a negative duration", "min < -5ms", "ms"),
    ("a percentage", "bad_ratio > 1%", "%"),
]


@pytest.mark.parametrize(("text", "expected"), _args(UNITS), ids=_ids(UNITS))
def test_threshold_unit_is_what_was_written(text: str, expected: str) -> None:
    assert expected == threshold_unit(parse_condition(text))


MATCHES = [
    ("a literal subject matches itself", "bus.consumer.lag", "bus.consumer.lag", True),
    ("a one-token wildcard", "bus.*.lag", "bus.consumer.lag", True),
    ("a tail wildcard", "bus.>", "bus.stream.status", True),
    ("a tail wildcard needs a token", "bus.stream.>", "bus.stream", False),
    ("a different token", "bus.publish.probe", "bus.probe.delivery", False),
    ("a longer subject", "slo.probe", "slo.probe.x", False),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), _args(MATCHES), ids=_ids(MATCHES))
def test_subject_pattern_matches(pattern: str, subject: str, expected: bool) -> None:
    assert expected == subject_pattern_matches(pattern, subject)


def test_condition_stat_prints_as_written() -> None:
    assert ["p99.9", "p95", "bad_ratio"] == [
        str(parse_condition(t).stat) for t in ("p99.9 > 1s", "p95 > 1s", "bad_ratio > 1%")
    ]


SUBJECTS = [
    ("a literal subject", "trade.order.submitted", None),
    ("a one-token wildcard", "market.quote.*", None),
    ("a tail wildcard", "trade.>", None),
    ("a lone tail wildcard", ">", None),
    ("a tail wildcard before the end", "trade.>.x", "must be the last token"),
    ("a wildcard inside a token", "trade.ord*", "must be whole tokens"),
    ("an empty token", "trade..order", "empty token"),
    ("a trailing dot", "trade.", "empty token"),
    ("whitespace", "trade order", "whitespace"),
    ("an empty subject", "", "expected a NATS subject"),
]


@pytest.mark.parametrize(("subject", "message"), _args(SUBJECTS), ids=_ids(SUBJECTS))
def test_check_subject_pattern(subject: str, message: str | None) -> None:
    if message is None:
        assert subject == check_subject_pattern(subject)
        return
    with pytest.raises(ValueError) as info:
        check_subject_pattern(subject)
    assert message in str(info.value)
