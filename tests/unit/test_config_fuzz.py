"""A config that has been mangled never makes the loader raise anything but ConfigError (whose
problems name file, line and field): no traceback from `slo validate` or `slo run`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.config.load import load_config_text
from processor.errors import ConfigError

ROOT = Path(__file__).parents[2]
LINES = (ROOT / "config" / "slo.yaml").read_text().split("\n")
HOSTILE = [
    "~", "null", "''", "[]", "{}", "true", "0", "-1", "1e308", "-1e308", ".inf", ".nan",
    "99999999999999999999999999", "99999999999d", "-5m", "0s", "p999", "p0", "1.5.5",
    "'p95 > 1e400ms'", "'((((((((((((((((((((a))))))))))))))))))))'", "'a == 1 and ' ",
    "'status in ['", "\"\\x00\"", "'\U0001d518nicode'", "{a: [1, {b: 2}]}", "[[[[[]]]]]",
]


def _mangle(line: str, replacement: str) -> str:
    key, colon, _ = line.partition(":")
    if colon and not line.strip().startswith("#"):
        return f"{key}: {replacement}"
    return f"  - {replacement}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(LINES) - 1), st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))),
                min_size=1, max_size=3))
def test_a_mangled_config_gives_problems_never_a_traceback(edits):
    lines = list(LINES)
    for index, replacement in edits:
        lines[index] = _mangle(lines[index], replacement)
    try:
        load_config_text("\n".join(lines), "slo.yaml", base_dir=ROOT / "config")
    except ConfigError as err:
        assert all(p.file and p.message for p in err.problems)


def test_a_control_character_is_a_problem_at_its_line():
    with pytest.raises(ConfigError) as err:
        load_config_text("version: 1\nslis:\n  a:\n    service: s\x08\n", "c.yaml")
    assert [(4, "YAML does not allow the character U+0008 (special characters are not allowed)")] == [
        (p.line, p.message) for p in err.value.problems
    ]


def test_a_required_key_given_as_null_is_missing():
    with pytest.raises(ConfigError) as err:
        load_config_text("version: 1\nslis:\n  a: {service: s, kind: latency, subject: x.y, value: ~}\n", "n.yaml")
    assert ["a latency SLI needs value: the payload field with the latency"] == [p.message for p in err.value.problems]


@pytest.mark.parametrize("volume", ["0/0", "5/0s", "5/0m"])
def test_an_expected_volume_over_no_time_is_a_problem_not_a_division_by_zero(volume):
    # Found by the fuzz test above (edits=[(1227, '0/0')]).
    text = "\n".join(LINES).replace("expected: 1200/1m", f"expected: {volume}", 1)
    with pytest.raises(ConfigError, match=r"expected: expected events per duration such as 48/1d"):
        load_config_text(text, "slo.yaml", base_dir=ROOT / "config")
