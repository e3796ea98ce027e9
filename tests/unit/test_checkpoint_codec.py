"""The checkpoint format: what round-trips, and every way a stored value can be wrong, each a
CheckpointError raised from its cause."""

from __future__ import annotations

import zlib

import orjson
import pytest
import structlog

from processor.bus.checkpoint import CHECKPOINT_FORMAT, decode_checkpoint, encode_checkpoint
from processor.engine import Engine
from processor.errors import CheckpointError
from processor.runtime.checkpoints import Checkpointer
from tests.enginekit import latency_sli, spec_of

STATES = {
    "ANALYTICS": (4242, {"max_ts_ms": 1_700_000_000_000, "series": [[1, 2], [3, 4]]}),
    "TRADE": (0, {}),
}


def packed(body: object) -> bytes:
    return zlib.compress(orjson.dumps(body))


def test_a_checkpoint_round_trips():
    assert STATES == decode_checkpoint(encode_checkpoint(STATES))


def test_no_streams_round_trip_too():
    assert {} == decode_checkpoint(encode_checkpoint({}))


def test_the_stored_value_names_its_format():
    assert CHECKPOINT_FORMAT == orjson.loads(zlib.decompress(encode_checkpoint(STATES)))["format"]


@pytest.mark.parametrize(
    ("raw", "cause", "message"),
    [
        pytest.param(b"not zlib at all", zlib.error, "not a valid snapshot", id="bytes that are not compressed"),
        pytest.param(zlib.compress(b"{not json"), orjson.JSONDecodeError, "not a valid snapshot",
                     id="compressed bytes that are not JSON"),
        pytest.param(packed({"format": 1, "streams": {"A": {"seq": 1}}}), KeyError, "malformed",
                     id="a stream without its engine snapshot"),
        pytest.param(packed({"format": 1}), KeyError, "malformed", id="no streams"),
        pytest.param(packed({"format": 1, "streams": []}), AttributeError, "malformed", id="streams that are a list"),
        pytest.param(packed({"format": 1, "streams": {"A": {"seq": "7", "engine": {}}}}), ValueError, "malformed",
                     id="a sequence that is not a number"),
        pytest.param(packed({"format": 1, "streams": {"A": {"seq": -1, "engine": {}}}}), ValueError, "malformed",
                     id="a negative sequence"),
        pytest.param(packed({"format": 1, "streams": {"A": {"seq": 1, "engine": [1]}}}), TypeError, "malformed",
                     id="an engine snapshot that is not an object"),
    ],
)
def test_a_value_that_is_not_a_checkpoint_is_a_checkpoint_error_from_its_cause(raw, cause, message):
    with pytest.raises(CheckpointError, match=message) as caught:
        decode_checkpoint(raw)
    assert isinstance(caught.value.__cause__, cause)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"format": 2, "streams": {}}, "checkpoint format 2, expected 1", id="a newer format"),
        pytest.param({"streams": {}}, "checkpoint format None, expected 1", id="no format"),
        pytest.param([1, 2], "checkpoint format None, expected 1", id="JSON that is not an object"),
    ],
)
def test_another_format_is_refused_by_name(body, expected):
    with pytest.raises(CheckpointError) as caught:
        decode_checkpoint(packed(body))
    assert expected == str(caught.value)


def test_a_snapshot_that_cannot_be_encoded_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="cannot be encoded") as caught:
        encode_checkpoint({"A": (1, {"sketch": object()})})
    assert isinstance(caught.value.__cause__, TypeError)


@pytest.mark.parametrize(
    "snapshot",
    [{"version": 2, "resolution_ms": 10_000, "max_ts_ms": 0, "closed_until_ms": 0, "slis": [], "rules": {}},
     {"version": 7}, {}],
    ids=["slis of another shape", "an unknown version", "empty"],
)
def test_an_engine_snapshot_it_cannot_restore_is_a_checkpoint_error(snapshot):
    checkpointer = Checkpointer(store=None, lanes={}, interval_s=15, log=structlog.get_logger())  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="checkpoint of stream ANALYTICS: cannot restore its engine") as caught:
        checkpointer.restore("ANALYTICS", Engine(spec_of([latency_sli()], [])), (5, snapshot))
    assert caught.value.__cause__ is not None
