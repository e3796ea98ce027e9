"""The cores the embedded nats-server runs on (processor/bus/embedded.py ``server_cpus``): all this
process may run on but the last, which the lanes' thread keeps to itself; where it runs when there
is nothing to leave, or the operator sized the server with GOMAXPROCS."""

from __future__ import annotations

import pytest

from processor.bus import embedded


def _allowed(monkeypatch: pytest.MonkeyPatch, cores: set[int]) -> None:
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: set(cores), raising=False)
    monkeypatch.delenv("GOMAXPROCS", raising=False)


@pytest.mark.parametrize(("allowed", "expected"), [
    ({0, 1}, {0}),
    (set(range(8)), set(range(7))),
    ({2, 5, 9}, {2, 5}),  # a process placed on scattered cores: the last of them is left
    ({3}, None),  # one core: nothing to leave
])
def test_the_server_runs_on_every_core_of_the_process_but_the_last(
        monkeypatch: pytest.MonkeyPatch, allowed: set[int], expected: set[int] | None) -> None:
    _allowed(monkeypatch, allowed)
    assert expected == embedded.server_cpus()


@pytest.mark.parametrize(("gomaxprocs", "expected"), [("3", None), ("", {0}), ("0", {0}), ("two", {0})])
def test_only_a_gomaxprocs_go_reads_leaves_the_placement_to_the_operator(
        monkeypatch: pytest.MonkeyPatch, gomaxprocs: str, expected: set[int] | None) -> None:
    _allowed(monkeypatch, {0, 1})
    monkeypatch.setenv("GOMAXPROCS", gomaxprocs)
    assert expected == embedded.server_cpus()


def test_without_cpu_affinity_the_server_runs_where_this_process_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    monkeypatch.delattr(embedded.os, "sched_getaffinity", raising=False)  # not Linux
    assert embedded.server_cpus() is None
