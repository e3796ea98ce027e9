"""The embedded nats-server's GOMAXPROCS (processor/bus/embedded.py): one core fewer than this
process may use, where "may use" also counts a container's CPU limit, and an operator's value
wins only when Go's runtime would read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.bus import embedded


def _host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cores: int, own_cgroup: str) -> Path:
    """A process allowed on ``cores`` cores, in the cgroups ``own_cgroup`` (/proc/self/cgroup's
    text) names; returns the cgroup file system's root to write limits under."""
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(own_cgroup)
    root = tmp_path / "sys_fs_cgroup"
    root.mkdir()
    monkeypatch.setattr(embedded, "_OWN_CGROUP", proc, raising=False)
    monkeypatch.setattr(embedded, "_CGROUP_FS", root, raising=False)
    return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("150000 100000\n", 1),  # 1.5 CPUs: Go's own default would be 2; one is left to the lanes
    ("300000 100000\n", 2),
    ("max 100000\n", 7),  # no limit: the cores
    ("1600000 100000\n", 7),  # a limit above the cores
])
def test_a_cgroup_v2_cpu_limit_counts_as_the_cores_the_process_may_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: int) -> None:
    # Setting GOMAXPROCS turns Go's own reading of the container's limit off (Go 1.25+): the
    # server would run 7 threads' worth of work against a quota of 1.5 CPUs.
    root = _host(monkeypatch, tmp_path, 8, "0::/kubepods/pod1/c1\n")
    _write(root / "kubepods/pod1/c1/cpu.max", cpu_max)
    assert expected == embedded.server_gomaxprocs()


def test_a_cgroup_v2_limit_seen_at_the_root_of_a_cgroup_namespace(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = _host(monkeypatch, tmp_path, 16, "0::/\n")
    _write(root / "cpu.max", "200000 100000\n")
    assert 1 == embedded.server_gomaxprocs()


def test_a_cgroup_v1_cfs_quota_counts_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _host(monkeypatch, tmp_path, 8, "4:memory:/x\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "300000\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert 2 == embedded.server_gomaxprocs()
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")  # no quota
    assert 7 == embedded.server_gomaxprocs()


def test_without_cgroup_files_the_cores_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _host(monkeypatch, tmp_path, 4, "garbage\n1:cpu:/a\n0::/b\n")
    assert 3 == embedded.server_gomaxprocs()
    monkeypatch.setattr(embedded, "_OWN_CGROUP", tmp_path / "absent", raising=False)  # not Linux
    assert 3 == embedded.server_gomaxprocs()


@pytest.mark.parametrize("value", ["", " ", "0", "-2", "+2", "two", "2 ", "\u00b2", "99999999999"])
def test_a_gomaxprocs_go_would_not_read_is_replaced(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Go ignores these (a positive decimal or nothing) and takes every core, which is what the
    # default is there to avoid; an empty GOMAXPROCS= is what a template with an unset variable writes.
    monkeypatch.setenv("GOMAXPROCS", value)
    assert str(embedded.server_gomaxprocs()) == embedded.server_environment()["GOMAXPROCS"]


@pytest.mark.parametrize("value", ["1", "3", "03", "64"])
def test_a_gomaxprocs_go_reads_is_kept(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMAXPROCS", value)
    assert value == embedded.server_environment()["GOMAXPROCS"]
