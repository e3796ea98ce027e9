"""The batched path's decoding (engine/batch.py ``decode_all``): one ``orjson.loads`` of the batch
joined into an array where that provably hands each message its own object.

Checked against the obvious reference, each message decoded alone (``NOT_JSON`` where it does not
decode), on batches built from fragments that a hostile producer would use to shift objects across
messages: a message ending inside an object or an array that the next one closes, one holding two
objects, braces inside strings, newlines and whitespace around and inside a message, non-objects.
"""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.engine import Engine
from processor.engine.batch import NOT_JSON, _decode_joined, decode_all
from tests.enginekit import T0_MS, Msg, event, ratio_sli, spec_of

FRAGMENTS = [b"{", b"}", b"[", b"]", b",", b":", b'"a"', b'"b":1', b'"}"', b'"{"', b'"},{"', b"1", b"\n", b" ",
             b"{}", b'{"a":1}', b'{"a":[1,{}]}', b"},{", b'"a":"x', b'y"', b"null", b'{"s":"}\\n{"}']


def reference(batch: list[Msg]) -> list:
    out = []
    for m in batch:
        try:
            out.append(orjson.loads(m.data))
        except orjson.JSONDecodeError:
            out.append(NOT_JSON)
    return out


messages = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map(b"".join)
# One flat object each, with no brace or newline in a string: what the joined decode is for.
flat = st.dictionaries(st.sampled_from(["a", "b", "ts"]),
                       st.one_of(st.integers(-2**63, 2**63 - 1), st.text("ab ,:[]\"", max_size=4), st.none()),
                       min_size=1).map(orjson.dumps)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(messages, flat), min_size=1, max_size=8))
def test_each_message_gets_what_it_decodes_to_alone(datas):
    batch = [Msg("s", data) for data in datas]
    assert decode_all(batch, orjson.loads) == reference(batch)


@settings(max_examples=200, deadline=None)
@given(st.lists(flat, min_size=2, max_size=8))
def test_a_batch_of_flat_objects_is_decoded_joined(datas):
    # The fast path is taken where it should be (else it would be a no-op that hides nothing).
    assert _decode_joined(datas) == ([orjson.loads(d) for d in datas], True)


@settings(max_examples=600, deadline=None)
@given(st.lists(flat, min_size=6, max_size=12), st.lists(st.tuples(st.integers(0, 12), messages), max_size=3))
def test_a_few_odd_messages_among_flat_objects_each_get_what_they_decode_to_alone(flats, odd):
    # The flat ones decoded joined around the odd ones (``_decode_around``), which a hostile
    # producer would make to shift objects across their neighbours.
    datas = list(flats)
    for at, data in odd:
        datas.insert(at % (len(datas) + 1), data)
    batch = [Msg("s", data) for data in datas]
    assert decode_all(batch, orjson.loads) == reference(batch)


def test_garbage_among_flat_objects_leaves_the_others_decoded_joined():
    datas = [b'{"a":1}'] * 6 + [b"{not json", b'[1, 2]', b'{"b":{"c":2}}'] + [b'{"d":4}'] * 6
    payloads, objects = _decode_joined(datas)
    assert payloads == [{"a": 1}] * 6 + [NOT_JSON, [1, 2], {"b": {"c": 2}}] + [{"d": 4}] * 6
    assert objects is False  # read_subject looks at each payload's type


def test_objects_shifted_across_messages_are_not_taken_from_the_joined_array():
    # Joined, these decode to two dicts: {"a":1,"b":2} and {} (the second message closes the first's
    # object and opens another). Alone, the first does not decode at all.
    datas = [b'{"a":1', b'"b":2},{}']
    assert _decode_joined(datas) == (None, False)
    assert decode_all([Msg("s", d) for d in datas], orjson.loads) == [NOT_JSON, NOT_JSON]


def test_a_message_closing_what_the_one_before_opened_is_decoded_alone():
    # Each message starts with "{" and ends with "}", and joined they decode to three dicts, but
    # the first two make one ({"a":[{},{}]}) and the third makes two: only counting every brace
    # tells, as the first two hold more braces than their own object's.
    datas = [b'{"a":[{}', b'{}]}', b"{},{}"]
    assert orjson.loads(b"[" + b",\n".join(datas) + b"]") == [{"a": [{}, {}]}, {}, {}]
    assert _decode_joined(datas) == (None, False)
    assert decode_all([Msg("s", d) for d in datas], orjson.loads) == [NOT_JSON] * 3


def test_a_brace_inside_a_string_leaves_the_batch_to_message_by_message_decoding():
    datas = [b'{"s":"}"}', b'{"a":1}']
    assert _decode_joined(datas) == (None, False)
    assert decode_all([Msg("s", d) for d in datas], orjson.loads) == [{"s": "}"}, {"a": 1}]


def test_a_message_without_bytes_is_not_json_as_alone_and_the_batch_is_not_joined():
    # A Kafka tombstone has no value (None): the reviewer's crash, b"[" + None in the join.
    batch = [Msg("svc.req", b'{"a":1}'), Msg("svc.req", None), Msg("svc.req", b'{"b":2}')]
    assert [{"a": 1}, NOT_JSON, {"b": 2}] == decode_all(batch, orjson.loads)


class _Bytes(bytes):
    pass


class _Bytearray(bytearray):
    pass


def test_data_of_other_types_gets_what_it_decodes_to_alone_wherever_it_stands():
    # Not bytes: None first, last or between (nothing to join), a str (orjson reads one alone);
    # a bytearray, which joins as bytes do; a memoryview, decoded alone (it has no ``+``); a
    # subclass of bytes or bytearray, which orjson.loads turns down alone (it takes those types
    # exactly) and the join would take.
    others = [None, '{"s":1}', bytearray(b'{"b":2}'), memoryview(b'{"m":3}'), _Bytes(b'{"x":5}'),
              _Bytearray(b'{"y":6}')]
    for other in others:
        for at in range(3):
            datas = [b'{"a":1}', b'{"c":4}']
            datas.insert(at, other)
            batch = [Msg("s", d) for d in datas]
            assert reference(batch) == decode_all(batch, orjson.loads), (other, at)


def test_a_tombstone_is_rejected_as_not_json_on_both_paths():
    batch = [event("svc.req", T0_MS, status="ok"), Msg("svc.req", None)]
    seen = []
    for batched in (True, False):
        engine = Engine(spec_of([ratio_sli()], []))
        engine.batched = batched
        seen.append([(r.index, r.reason) for r in engine.ingest(batch).rejections])
    assert [[(1, "not_json")]] * 2 == seen
