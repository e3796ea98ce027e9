"""The predicate language of `where:` and `good:` (processor.config.predicate)."""

from __future__ import annotations

from typing import Any

import pytest

from processor.config.predicate import (
    FieldTypeError,
    MissingField,
    PredicateSyntaxError,
    is_field_path,
    parse_predicate,
)

GATEWAY = {"status_code": 503, "route": "/orders", "rate_limited": False, "latency_ms": 12.5}

SEMANTICS: list[tuple[str, str, dict[str, Any], bool]] = [
    ("a number below the bound is less", "status_code < 500", {"status_code": 200}, True),
    ("the bound itself is not less", "status_code < 500", {"status_code": 500}, False),
    ("less or equal includes the bound", "status_code <= 500", {"status_code": 500}, True),
    ("greater compares ints with floats", "latency_ms > 12", {"latency_ms": 12.5}, True),
    ("greater or equal with a float literal", "latency_ms >= 12.5", {"latency_ms": 12.5}, True),
    ("a negative literal compares as a number", "delta > -1", {"delta": 0}, True),
    ("an exponent literal is a float", "x < 1e3", {"x": 999}, True),
    ("strings order lexicographically", 'route < "/p"', {"route": "/orders"}, True),
    ("string equality with double quotes", 'status == "ok"', {"status": "ok"}, True),
    ("string equality with single quotes", "status == 'ok'", {"status": "error"}, False),
    ("escaped quotes inside a string", 'msg == "say \\"hi\\""', {"msg": 'say "hi"'}, True),
    ("not-equal of different strings holds", 'status != "ok"', {"status": "error"}, True),
    ("equality across types is simply false", 'status_code == "200"', {"status_code": 200}, False),
    ("not-equal across types is simply true", 'status_code != "200"', {"status_code": 200}, True),
    ("a bool does not equal the number 1", "flag == 1", {"flag": True}, False),
    ("the number 1 does not equal true", "n == true", {"n": 1}, False),
    ("true equals true", "flag == true", {"flag": True}, True),
    ("false equals false", "flag == false", {"flag": False}, True),
    ("null equals a JSON null", "reason == null", {"reason": None}, True),
    ("null does not equal zero", "reason == null", {"reason": 0}, False),
    ("an int equals the same float", "x == 2.0", {"x": 2}, True),
    ("a bare field is true when the bool is true", "rate_limited", {"rate_limited": True}, True),
    ("a bare field is false when the bool is false", "rate_limited", {"rate_limited": False}, False),
    ("not negates a bare field", "not rate_limited", {"rate_limited": False}, True),
    ("in finds a string in the list", 'status in ["ok", "partial"]', {"status": "partial"}, True),
    ("in misses a string not in the list", 'status in ["ok", "partial"]', {"status": "error"}, False),
    ("in matches numbers across int and float", "code in [200, 201.0]", {"code": 201}, True),
    ("in does not match a bool against 1", "code in [1, 2]", {"code": True}, False),
    ("in matches a bool literal", "flag in [true]", {"flag": True}, True),
    ("in matches null", "reason in [null, 'none']", {"reason": None}, True),
    ("in with an object value is false", "x in [1]", {"x": {"a": 1}}, False),
    ("an empty list contains nothing", "x in []", {"x": 1}, False),
    ("not in is the negation of in", "status not in ['error']", {"status": "ok"}, True),
    ("a trailing comma in a list is allowed", "x in [1, 2,]", {"x": 2}, True),
    ("a dotted path reads a nested object", 'meta.region == "eu"', {"meta": {"region": "eu"}}, True),
    ("a deep dotted path", "a.b.c > 1", {"a": {"b": {"c": 2}}}, True),
    ("and needs both sides", "a and b", {"a": True, "b": False}, False),
    ("or needs one side", "a or b", {"a": False, "b": True}, True),
    ("and binds tighter than or", "a or b and c", {"a": True, "b": False, "c": False}, True),
    ("parentheses override precedence", "(a or b) and c", {"a": True, "b": False, "c": False}, False),
    ("not binds tighter than and", "not a and b", {"a": False, "b": True}, True),
    ("not applies to a parenthesised group", "not (a and b)", {"a": True, "b": True}, False),
    ("double negation", "not not a", {"a": True}, True),
    ("three-way and", "a and b and c", {"a": True, "b": True, "c": True}, True),
    ("three-way or", "a or b or c", {"a": False, "b": False, "c": True}, True),
    ("and short-circuits past a missing field", "a and missing", {"a": False}, False),
    ("or short-circuits past a missing field", "a or missing", {"a": True}, True),
    ("keywords stay keywords next to punctuation", "(a)and(b)", {"a": True, "b": True}, True),
    ("whitespace is free", "  status_code<500  ", {"status_code": 1}, True),
    # exists: the one test a missing field does not raise (an agent stopped without a reason).
    ("exists: a missing field is false", "reason exists", {}, False),
    ("exists: a present field is true, even null", "reason exists", {"reason": None}, True),
    ("exists: a nested path", "meta.region exists", {"meta": {"region": "eu"}}, True),
    ("exists: a path through a string is missing", "meta.region exists", {"meta": "eu"}, False),
    ("exists guards a comparison of an optional field", 'not (reason exists and reason == "requested")',
     {"state": "stopped"}, True),
    ("a guarded comparison still compares", 'not (reason exists and reason == "requested")',
     {"reason": "requested"}, False),
    ("exists is a keyword only after a field", "exists", {"exists": True}, True),
]


@pytest.mark.parametrize(("text", "payload", "expected"), [c[1:] for c in SEMANTICS], ids=[c[0] for c in SEMANTICS])
def test_predicate_evaluates(text: str, payload: dict[str, Any], expected: bool) -> None:
    assert expected == parse_predicate(text).fn(payload)


RAISES: list[tuple[str, str, dict[str, Any], type[Exception], str]] = [
    ("a missing field raises MissingField", "status_code < 500", {}, MissingField, "status_code"),
    ("equality on a missing field raises too", 'status == "ok"', {}, MissingField, "status"),
    ("in on a missing field raises too", "status in ['ok']", {}, MissingField, "status"),
    ("a missing nested field names the whole path", "meta.region == 'eu'", {"meta": {}}, MissingField, "meta.region"),
    ("a path through a string is missing", "meta.region == 'eu'", {"meta": "eu"}, MissingField, "meta.region"),
    ("a path through null is missing", "meta.region == 'eu'", {"meta": None}, MissingField, "meta.region"),
    ("a path through a list is missing", "meta.region == 'eu'", {"meta": [1]}, MissingField, "meta.region"),
    ("a string ordered against a number", "status_code < 500", {"status_code": "200"}, FieldTypeError, "status_code"),
    ("a bool is not a number for ordering", "status_code < 500", {"status_code": True}, FieldTypeError, "status_code"),
    ("null is not a number for ordering", "x >= 1", {"x": None}, FieldTypeError, "x"),
    ("a number ordered against a string", 'route > "/a"', {"route": 5}, FieldTypeError, "route"),
    ("a nested string ordered against a number", "a.b < 1", {"a": {"b": "1"}}, FieldTypeError, "a.b"),
    ("a bare field must be a bool, not a string", "flag", {"flag": "yes"}, FieldTypeError, "flag"),
    ("a bare field must be a bool, not 1", "flag", {"flag": 1}, FieldTypeError, "flag"),
    ("the right side of and is evaluated when needed", "a and b", {"a": True}, MissingField, "b"),
    ("not does not hide a missing field", "not a", {}, MissingField, "a"),
]


@pytest.mark.parametrize(
    ("text", "payload", "error", "field"), [c[1:] for c in RAISES], ids=[c[0] for c in RAISES]
)
def test_predicate_raises_on_bad_data(text: str, payload: dict[str, Any], error: type[Exception], field: str) -> None:
    with pytest.raises(error) as info:
        parse_predicate(text).fn(payload)
    assert field == info.value.field  # type: ignore[attr-defined]


SYNTAX_ERRORS: list[tuple[str, str, int, str]] = [
    ("an empty predicate", "", 1, "expected a field name, 'not' or '(', found end of expression"),
    ("a comparison without a literal", "status_code <", 14, "expected a literal"),
    ("a single equals sign", "status = 'ok'", 8, "unexpected '='; did you mean '=='?"),
    ("a literal on the left", "500 > status_code", 1, "expected a field name, 'not' or '(', found number 500"),
    ("an unclosed parenthesis", "(a or b", 8, "expected 'and', 'or' or ')', found end of expression"),
    ("a stray closing parenthesis", "a)", 2, "expected 'and', 'or' or end of expression, found ')'"),
    ("two fields in a row", "a b", 3, "expected 'and', 'or' or end of expression, found name 'b'"),
    ("an unterminated string", 'status == "ok', 11, "unterminated string"),
    ("an unknown escape", r'status == "o\k"', 13, "unknown escape"),
    ("a Python capitalised True", "flag == True", 9, "did you mean 'true'?"),
    ("Python None for null", "x == None", 6, "did you mean 'null'?"),
    ("ordering against true", "x < true", 5, "expected a number or a string after '<', found true"),
    ("ordering against null", "x >= null", 6, "expected a number or a string after '>=', found null"),
    ("a unit after a number", "latency_ms > 5ms", 15, "unexpected 'm' after number 5"),
    ("not without in after a field", "status not ['a']", 12, "expected 'in' after 'not'"),
    ("in without a list", "status in 'a'", 11, "expected '[' to start a list"),
    ("a list missing a comma", "x in [1 2]", 9, "expected ',' or ']'"),
    ("an unclosed list", "x in [1,", 9, "expected a literal"),
    ("a dangling dot in a path", "meta. == 1", 6, "expected a name after '.'"),
    ("C-style and", "a && b", 3, "unexpected '&'; did you mean 'and'?"),
    ("a function call is not a predicate", "__import__('os')", 11, "found '('"),
    ("and without a right side", "a and", 6, "expected a field name, 'not' or '('"),
]


@pytest.mark.parametrize(
    ("text", "column", "expected_text"), [c[1:] for c in SYNTAX_ERRORS], ids=[c[0] for c in SYNTAX_ERRORS]
)
def test_predicate_syntax_error_names_column_and_expectation(text: str, column: int, expected_text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_predicate(text)
    assert isinstance(info.value, PredicateSyntaxError)
    assert column == info.value.column
    assert str(info.value).startswith(f"column {column}: ")
    assert expected_text in str(info.value)


FIELDS = [
    ("one comparison reads one field", "status_code < 500", ("status_code",)),
    ("fields in order of first use, once each", "b or a and b", ("b", "a")),
    ("dotted paths are listed whole", "meta.region == 'eu' and not rate_limited", ("meta.region", "rate_limited")),
    ("in and not in read their field", "x in [1] or y not in [2]", ("x", "y")),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in FIELDS], ids=[c[0] for c in FIELDS])
def test_predicate_lists_the_fields_it_reads(text: str, expected: tuple[str, ...]) -> None:
    assert expected == parse_predicate(text).fields


def test_predicates_with_the_same_text_are_equal_and_hash_alike() -> None:
    a, b = parse_predicate("status_code < 500"), parse_predicate("  status_code < 500 ")
    assert (a, hash(a)) == (b, hash(b))


FIELD_PATHS = [
    ("a plain name is a path", "latency_ms", True),
    ("a dotted name is a path", "meta.region", True),
    ("a keyword is not a path", "and", False),
    ("a leading digit is not a path", "1x", False),
    ("an empty segment is not a path", "a..b", False),
    ("a hyphen is not allowed", "x-request-id", False),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in FIELD_PATHS], ids=[c[0] for c in FIELD_PATHS])
def test_is_field_path(text: str, expected: bool) -> None:
    assert expected == is_field_path(text)
