"""Safe predicate expressions over event payloads.

A predicate is a tiny boolean language over the JSON payload of an event, used by an SLI's
``where`` (which events belong to it) and ``good`` (which of those count as good)::

    status_code < 500
    order_type == "market" and not (status in ["error", "timeout"])
    meta.region in ['eu', 'us'] or rate_limited

Grammar (keywords are lower case)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | atom
    atom       := "(" expr ")" | field [ OP literal | "in" list | "not" "in" list | "exists" ]
    OP         := "==" | "!=" | "<" | "<=" | ">" | ">="
    list       := "[" [ literal ("," literal)* [","] ] "]"
    literal    := number | "double" | 'single' | true | false | null
    field      := name ("." name)*          (a dotted path into nested objects)

Semantics, chosen so that bad data is visible rather than silently counted:

- a field the payload does not have raises :class:`MissingField`;
- ``<``, ``<=``, ``>``, ``>=`` between a field and a literal of another type (a string against a
  number; a bool is *not* a number here) raise :class:`FieldTypeError`;
- ``==`` / ``!=`` / ``in`` across types compare unequal (``true == 1`` is false);
- a bare ``field`` must hold a bool; any other value raises :class:`FieldTypeError`;
- ``field exists`` is the one test that a missing field does not raise: it is false, so that an
  optional field can be required or ruled out (``not (reason exists and reason == "requested")``);
  ``exists`` is a keyword only right after a field, so a payload field may still be named so;
- ``and`` / ``or`` short-circuit, so a field on the right that is not reached is not required.

The text is parsed once into a tree of small closures; evaluating a predicate is a few Python calls
with no dispatch on node types (it runs for every event on the hot path). Nothing here uses
``eval``/``exec``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldTypeError",
    "MissingField",
    "Predicate",
    "PredicateSyntaxError",
    "is_field_path",
    "parse_predicate",
]

Fn = Callable[[dict[str, Any]], bool]


class MissingField(Exception):
    """A predicate referred to a payload field that the event does not have."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class FieldTypeError(Exception):
    """A predicate compared a payload field of the wrong type (a string with ``<``, say)."""

    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


class PredicateSyntaxError(ValueError):
    """The text is not a predicate; ``column`` is 1-based."""

    def __init__(self, column: int, message: str):
        super().__init__(f"column {column}: {message}")
        self.column = column
        self.message = message


class Predicate:
    """A parsed predicate; ``fn(payload)`` returns a bool or raises MissingField/FieldTypeError."""

    def __init__(self, text: str, fn: Fn, fields: tuple[str, ...]):
        self.text = text
        self.fn = fn
        self.fields = fields

    def __repr__(self) -> str:
        return f"Predicate({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Predicate) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


# --------------------------------------------------------------------------------------------
# Tokens

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FIELD_RE = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_MISSPELLED_OPS = {"=": "'=='", "!": "'!=' or 'not'", "&": "'and'", "|": "'or'"}


def is_field_path(text: str) -> bool:
    """True if ``text`` is a field path the predicate language accepts (``a`` or ``a.b.c``)."""
    return _FIELD_RE.fullmatch(text) is not None and text not in _KEYWORDS


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | field | keyword | string | op | punct | end
    text: str
    value: Any
    column: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "number":
            return f"number {self.text}"
        if self.kind == "string":
            return f"string {self.text}"
        if self.kind == "field":
            return f"name {self.text!r}"
        return repr(self.text)


def _unescape(body: str, column: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]  # the token regex guarantees a character after a backslash
            if nxt not in _ESCAPES:
                raise PredicateSyntaxError(
                    column + 1 + i, f"unknown escape '\\{nxt}' (use \\\\, \\\", \\', \\n, \\t, \\r)"
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        column = pos + 1
        if m is None:
            ch = text[pos]
            if ch in "\"'":
                raise PredicateSyntaxError(column, f"unterminated string starting at column {column}")
            hint = _MISSPELLED_OPS.get(ch)
            if hint is not None:
                raise PredicateSyntaxError(column, f"unexpected {ch!r}; did you mean {hint}?")
            raise PredicateSyntaxError(column, f"unexpected character {ch!r}")
        kind = m.lastgroup
        assert kind is not None
        raw = m.group()
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "number":
            if pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
                raise PredicateSyntaxError(
                    pos + 1, f"unexpected {text[pos]!r} after number {raw} (no units in predicates)"
                )
            is_float = any(c in raw for c in ".eE")
            tokens.append(_Token("number", raw, float(raw) if is_float else int(raw), column))
        elif kind == "field":
            if raw in _KEYWORDS:
                value = {"true": True, "false": False, "null": None}.get(raw)
                tokens.append(_Token("keyword", raw, value, column))
            else:
                tokens.append(_Token("field", raw, raw, column))
            if pos < len(text) and text[pos] == ".":
                raise PredicateSyntaxError(pos + 2, "expected a name after '.'")
        elif kind == "string":
            tokens.append(_Token("string", raw, _unescape(raw[1:-1], column), column))
        else:
            tokens.append(_Token(kind, raw, raw, column))
    tokens.append(_Token("end", "", None, len(text) + 1))
    return tokens


# --------------------------------------------------------------------------------------------
# Compilation of leaves: one closure per comparison, specialised on the literal's type so that the
# per-event work is a dict lookup, a type check and one comparison.

_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _getter(field: str) -> Callable[[Any], Any]:
    """The value at ``field`` (a dotted path) or MissingField; anything but a dict on the way to
    the leaf (a string, a list, null) means the field is missing."""
    keys = tuple(field.split("."))
    if len(keys) == 1:
        key = keys[0]

        def get_one(p: Any) -> Any:
            try:
                return p[key]
            except (KeyError, TypeError, IndexError):
                raise MissingField(field) from None

        return get_one

    def get_path(p: Any) -> Any:
        v = p
        try:
            for key in keys:
                v = v[key]
        except (KeyError, TypeError, IndexError):
            raise MissingField(field) from None
        return v

    return get_path


def _compile_order(field: str, op_text: str, lit: int | float | str) -> Fn:
    op = _ORDER_OPS[op_text]
    if "." not in field:
        key = field
        if isinstance(lit, str):

            def order_str(p: Any) -> bool:
                try:
                    v = p[key]
                except (KeyError, TypeError, IndexError):
                    raise MissingField(field) from None
                if isinstance(v, str):
                    return op(v, lit)
                raise FieldTypeError(field)

            return order_str

        def order_num(p: Any) -> bool:
            try:
                v = p[key]
            except (KeyError, TypeError, IndexError):
                raise MissingField(field) from None
            t = v.__class__
            if t is int or t is float or _is_number(v):
                return op(v, lit)
            raise FieldTypeError(field)

        return order_num

    get = _getter(field)
    if isinstance(lit, str):

        def order_str_path(p: Any) -> bool:
            v = get(p)
            if isinstance(v, str):
                return op(v, lit)
            raise FieldTypeError(field)

        return order_str_path

    def order_num_path(p: Any) -> bool:
        v = get(p)
        if _is_number(v):
            return op(v, lit)
        raise FieldTypeError(field)

    return order_num_path


def _equals_fn(field: str, lit: Any) -> Fn:
    """``field == lit`` where values of different types are simply unequal."""
    get = _getter(field)
    if lit is None or isinstance(lit, bool):
        # True, False and None are singletons, and identity keeps 1 from equalling true.
        def eq_identity(p: Any) -> bool:
            return get(p) is lit

        return eq_identity
    if isinstance(lit, str):
        if "." not in field:
            key = field

            def eq_str(p: Any) -> bool:
                try:
                    return p[key] == lit
                except (KeyError, TypeError, IndexError):
                    raise MissingField(field) from None

            return eq_str

        def eq_str_path(p: Any) -> bool:
            return get(p) == lit

        return eq_str_path

    def eq_num(p: Any) -> bool:
        v = get(p)
        t = v.__class__
        return (t is int or t is float or _is_number(v)) and v == lit

    return eq_num


def _in_fn(field: str, literals: list[Any]) -> Fn:
    get = _getter(field)
    strings = frozenset(x for x in literals if isinstance(x, str))
    numbers = frozenset(x for x in literals if _is_number(x))
    # Kept apart from numbers because True == 1 and hash(True) == hash(1).
    bools = tuple(x for x in literals if isinstance(x, bool))
    has_null = any(x is None for x in literals)

    def is_in(p: Any) -> bool:
        v = get(p)
        t = v.__class__
        if t is str:
            return v in strings
        if t is int or t is float:
            return v in numbers
        if t is bool:
            return v in bools
        if v is None:
            return has_null
        if isinstance(v, str):
            return v in strings
        return _is_number(v) and v in numbers

    return is_in


def _truth_fn(field: str) -> Fn:
    get = _getter(field)

    def is_true(p: Any) -> bool:
        v = get(p)
        if v is True:
            return True
        if v is False:
            return False
        raise FieldTypeError(field)

    return is_true


def _exists_fn(field: str) -> Fn:
    get = _getter(field)

    def exists(p: Any) -> bool:
        try:
            get(p)
        except MissingField:
            return False
        return True

    return exists


def _not(f: Fn) -> Fn:
    def negate(p: Any) -> bool:
        return not f(p)

    return negate


def _all(fs: list[Fn]) -> Fn:
    if len(fs) == 2:
        a, b = fs

        def and2(p: Any) -> bool:
            return a(p) and b(p)

        return and2
    parts = tuple(fs)

    def and_n(p: Any) -> bool:
        for f in parts:
            if not f(p):
                return False
        return True

    return and_n


def _any(fs: list[Fn]) -> Fn:
    if len(fs) == 2:
        a, b = fs

        def or2(p: Any) -> bool:
            return a(p) or b(p)

        return or2
    parts = tuple(fs)

    def or_n(p: Any) -> bool:
        for f in parts:
            if f(p):
                return True
        return False

    return or_n


# --------------------------------------------------------------------------------------------
# Parser: recursive descent straight to closures (there is no intermediate tree to walk later).

_LITERAL_EXPECTED = 'a literal (number, "string", true, false or null)'
_AFTER_EXPR = "'and', 'or' or end of expression"
# Spellings from Python, SQL and YAML that a user may carry over; literals here are lower case.
_LITERAL_SPELLINGS = {"true": "true", "false": "false", "null": "null", "none": "null"}


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0
        self.fields: dict[str, None] = {}  # ordered set

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def fail(self, expected: str) -> PredicateSyntaxError:
        return PredicateSyntaxError(self.tok.column, f"expected {expected}, found {self.tok.describe()}")

    def at_keyword(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.text == word

    def parse(self) -> Fn:
        fn = self.or_expr()
        if self.tok.kind != "end":
            raise self.fail(_AFTER_EXPR)
        return fn

    def or_expr(self) -> Fn:
        parts = [self.and_expr()]
        while self.at_keyword("or"):
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else _any(parts)

    def and_expr(self) -> Fn:
        parts = [self.not_expr()]
        while self.at_keyword("and"):
            self.pos += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else _all(parts)

    def not_expr(self) -> Fn:
        if self.at_keyword("not"):
            self.pos += 1
            return _not(self.not_expr())
        return self.atom()

    def atom(self) -> Fn:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.pos += 1
            fn = self.or_expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail("'and', 'or' or ')'")
            self.pos += 1
            return fn
        if tok.kind != "field":
            raise self.fail("a field name, 'not' or '('")
        field = tok.text
        self.fields[field] = None
        self.pos += 1
        nxt = self.tok
        if nxt.kind == "op":
            self.pos += 1
            lit_tok = self.tok
            lit = self.literal()
            if nxt.text in ("==", "!="):
                eq = _equals_fn(field, lit)
                return eq if nxt.text == "==" else _not(eq)
            if lit is None or isinstance(lit, bool):
                raise PredicateSyntaxError(
                    lit_tok.column, f"expected a number or a string after {nxt.text!r}, found {lit_tok.text}"
                )
            return _compile_order(field, nxt.text, lit)
        if nxt.kind == "keyword" and nxt.text == "in":
            self.pos += 1
            return _in_fn(field, self.literal_list())
        if nxt.kind == "keyword" and nxt.text == "not":
            self.pos += 1
            if not self.at_keyword("in"):
                raise self.fail("'in' after 'not'")
            self.pos += 1
            return _not(_in_fn(field, self.literal_list()))
        if nxt.kind == "field" and nxt.text == "exists":
            self.pos += 1
            return _exists_fn(field)
        return _truth_fn(field)

    def literal(self) -> Any:
        tok = self.tok
        if tok.kind in ("number", "string") or (
            tok.kind == "keyword" and tok.text in ("true", "false", "null")
        ):
            self.pos += 1
            return tok.value
        if tok.kind == "field" and tok.text.lower() in _LITERAL_SPELLINGS:
            raise PredicateSyntaxError(
                tok.column, f"expected {_LITERAL_EXPECTED}, found name {tok.text!r}; "
                f"did you mean {_LITERAL_SPELLINGS[tok.text.lower()]!r}?"
            )
        raise self.fail(_LITERAL_EXPECTED)

    def literal_list(self) -> list[Any]:
        if not (self.tok.kind == "punct" and self.tok.text == "["):
            raise self.fail("'[' to start a list")
        self.pos += 1
        items: list[Any] = []
        while True:
            if self.tok.kind == "punct" and self.tok.text == "]":
                self.pos += 1
                return items
            items.append(self.literal())
            if self.tok.kind == "punct" and self.tok.text == ",":
                self.pos += 1
            elif not (self.tok.kind == "punct" and self.tok.text == "]"):
                raise self.fail("',' or ']'")


def parse_predicate(text: str) -> Predicate:
    """Parse ``text`` into a :class:`Predicate`; raise :class:`PredicateSyntaxError` (a
    ``ValueError``) naming the column and what was expected."""
    if not isinstance(text, str):
        raise TypeError(f"a predicate is a string, not {type(text).__name__}")
    parser = _Parser(text)
    fn = parser.parse()
    return Predicate(text.strip(), fn, tuple(parser.fields))
