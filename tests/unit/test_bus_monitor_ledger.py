"""The probe ledger of the bus monitor: each probe settles exactly once, within bounded memory."""

from __future__ import annotations

import pytest

from processor.bus.monitor import BusMonitor, DeliveryOutcome, ProbeLedger
from processor.config.model import BusMonitorConfig

TIMEOUT_MS = 5_000


def ledger(capacity: int = 16) -> ProbeLedger:
    return ProbeLedger(TIMEOUT_MS, capacity)


def test_a_probe_received_within_the_timeout_is_delivered_with_its_delay() -> None:
    probes = ledger()
    probes.add("p1", sent_s=10.0)
    probes.received("p1", at_s=10.0125)
    assert [DeliveryOutcome("p1", True, 12.5)] == probes.sweep(now_s=11.0)
    assert 0 == len(probes)


def test_a_probe_not_received_settles_only_once_its_timeout_has_passed() -> None:
    probes = ledger()
    probes.add("p1", sent_s=10.0)
    assert [] == probes.sweep(now_s=14.999)
    assert [DeliveryOutcome("p1", False, None)] == probes.sweep(now_s=15.0)
    assert [] == probes.sweep(now_s=99.0)


def test_a_probe_received_after_its_timeout_is_undelivered_but_keeps_its_delay() -> None:
    probes = ledger()
    probes.add("p1", sent_s=10.0)
    probes.received("p1", at_s=16.0)
    assert [DeliveryOutcome("p1", False, 6000.0)] == probes.sweep(now_s=16.5)


def test_receipts_of_settled_unknown_or_already_received_probes_change_nothing() -> None:
    probes = ledger()
    probes.add("p1", sent_s=10.0)
    probes.received("p1", at_s=10.001)
    probes.received("p1", at_s=10.900)  # a second copy: the first receipt counts
    probes.received("another-replicas-probe", at_s=10.002)
    assert [DeliveryOutcome("p1", True, 1.0)] == probes.sweep(now_s=11.0)
    probes.received("p1", at_s=11.5)
    assert [] == probes.sweep(now_s=30.0)


def test_a_discarded_probe_has_no_outcome_and_tells_whether_it_came_back() -> None:
    probes = ledger()
    probes.add("p1", sent_s=10.0)
    probes.add("p2", sent_s=10.0)
    probes.received("p2", at_s=10.1)
    assert False is probes.discard("p1")
    assert True is probes.discard("p2")
    assert False is probes.discard("never-added")
    assert [] == probes.sweep(now_s=99.0)


def test_outcomes_come_in_send_order() -> None:
    probes = ledger()
    for index in range(4):
        probes.add(f"p{index}", sent_s=float(index))
    probes.received("p3", at_s=3.5)
    probes.received("p1", at_s=1.5)
    assert ["p0", "p1", "p3"] == [o.probe_id for o in probes.sweep(now_s=5.0)]


def test_past_capacity_the_oldest_probes_are_given_up_each_with_its_outcome() -> None:
    probes = ledger(capacity=2)
    assert [] == probes.add("p1", sent_s=1.0)
    probes.received("p1", at_s=1.002)
    assert [] == probes.add("p2", sent_s=2.0)
    assert [DeliveryOutcome("p1", True, 2.0)] == probes.add("p3", sent_s=3.0)
    assert [DeliveryOutcome("p2", False, None)] == probes.add("p4", sent_s=4.0)
    assert 2 == len(probes)


@pytest.mark.parametrize(
    ("interval_ms", "delivery_timeout_ms", "request_timeout_s", "capacity"),
    [
        pytest.param(5_000, 5_000, 2.0, 6, id="defaults: 2 s cap, room for twice the overdue probes"),
        pytest.param(1_000, 5_000, 0.5, 14, id="half the interval"),
        pytest.param(10, 86_400_000, 0.05, 1024, id="floor and hard cap"),
    ],
)
def test_request_timeout_and_ledger_capacity_follow_the_interval(
    interval_ms: int, delivery_timeout_ms: int, request_timeout_s: float, capacity: int
) -> None:
    spec = BusMonitorConfig(interval_ms=interval_ms, delivery_timeout_ms=delivery_timeout_ms)
    monitor = BusMonitor(None, spec, ["SLO"])  # type: ignore[arg-type]  # no I/O before start()
    assert request_timeout_s == monitor.request_timeout_s
    assert capacity == monitor.ledger.capacity


async def test_sampling_before_start_is_a_programming_error() -> None:
    monitor = BusMonitor(None, BusMonitorConfig(), ["SLO"])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="before start"):
        await monitor.sample()
