"""The bus monitor's pure parts: a stream's settings against its definition, the messages stored
between two rounds, and the lag events of the consumers CONSUMER.LIST finds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.bus.monitor import EPHEMERAL_CONSUMER, consumer_lags, new_messages
from processor.bus.streams import config_drift

TRADE = json.loads((Path(__file__).resolve().parents[2] / "streams" / "trade.json").read_text())
DAY_NS = 86_400 * 1_000_000_000


def live(**changes: object) -> dict:
    """TRADE as a single server holds it after provisioning (1 replica), with ``changes``; the
    server adds fields of its own and leaves out those at their zero value."""
    config = {k: v for k, v in TRADE.items() if v not in (False, 0)}
    config.update({"num_replicas": 1, "compression": "none", "first_seq": 1, "consumer_limits": {}})
    config.update(changes)
    return config


@pytest.mark.parametrize(
    ("case", "cluster_size", "changes", "differing"),
    [
        ("as provisioned on one server", 1, {}, []),
        ("a new description is no drift", 1, {"description": "edited by hand"}, []),
        ("max_age shortened by hand", 1, {"max_age": 1 * DAY_NS}, ["max_age"]),
        ("a subject added", 1, {"subjects": ["trade.>", "orders.>"]}, ["subjects"]),
        ("retention and storage", 1, {"retention": "workqueue", "storage": "memory"}, ["retention", "storage"]),
        ("a limit set", 1, {"max_msgs": 1000}, ["max_msgs"]),
        ("sealed", 1, {"sealed": True}, ["sealed"]),
        # Replicas: the file wants 3; provisioning gives min(3, cluster size) and never scales down.
        ("3 servers, 3 replicas", 3, {"num_replicas": 3}, []),
        ("3 servers, 1 replica", 3, {"num_replicas": 1}, ["num_replicas"]),
        ("2 servers, 2 replicas", 2, {"num_replicas": 2}, []),
        ("5 servers, 3 replicas", 5, {"num_replicas": 3}, []),
        ("5 servers, 5 replicas: more than the file", 5, {"num_replicas": 5}, ["num_replicas"]),
        ("1 server, 3 replicas kept from a larger cluster", 1, {"num_replicas": 3}, []),
        ("size unknown: only the file's number", None, {"num_replicas": 1}, ["num_replicas"]),
        ("size unknown, 3 replicas", None, {"num_replicas": 3}, []),
        ("replicas and max_age, sorted", 3, {"num_replicas": 1, "max_age": 0}, ["max_age", "num_replicas"]),
    ],
)
def test_config_drift(case: str, cluster_size: int | None, changes: dict, differing: list[str]) -> None:
    assert 3 == TRADE["num_replicas"] and 7 * DAY_NS == TRADE["max_age"]
    assert differing == config_drift(TRADE, live(**changes), cluster_size), case


@pytest.mark.parametrize(
    ("previous", "last_seq", "expected"),
    [(None, 17, None), (10, 17, 7), (17, 17, 0), (17, 3, None), (0, 5, 5)],
)
def test_new_messages(previous: int | None, last_seq: int, expected: int | None) -> None:
    assert expected == new_messages(previous, last_seq)


def _info(name: str, pending: int, ack_pending: int, *, durable: bool = True) -> dict:
    config = {"durable_name": name} if durable else {"name": name}
    return {"name": name, "config": config, "num_pending": pending, "num_ack_pending": ack_pending}


def test_durables_each_have_their_lag_and_the_ephemerals_share_one_with_their_worst():
    infos = [
        _info("zeta", 4, 1),
        _info("Xq3vB7", 2, 9, durable=False),
        _info("alpha", 0, 0),
        _info("K1p0Lm", 12, 0, durable=False),
        _info("Hs8sd2", 5, 3, durable=False),
    ]
    assert [
        {"ts": 9, "stream": "AI", "consumer": "alpha", "pending": 0, "ack_pending": 0},
        {"ts": 9, "stream": "AI", "consumer": "zeta", "pending": 4, "ack_pending": 1},
        {"ts": 9, "stream": "AI", "consumer": EPHEMERAL_CONSUMER, "pending": 12, "ack_pending": 9, "count": 3},
    ] == consumer_lags("AI", infos, 9)


def test_a_stream_without_ephemerals_has_no_ephemeral_event_and_one_without_consumers_none():
    assert ["only"] == [b["consumer"] for b in consumer_lags("AI", [_info("only", 1, 1)], 0)]
    assert [] == consumer_lags("AI", [], 0)


def test_the_ephemeral_label_cannot_be_a_durables_name():
    # JetStream refuses "*" in consumer names, so no durable can share the ephemerals' series.
    assert "*" in EPHEMERAL_CONSUMER
