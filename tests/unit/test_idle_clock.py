"""The idle clock's rules on an injected wall clock: event time runs on when a stream is idle."""

from __future__ import annotations

import pytest

from processor.runtime.idle import IdleClock

LATENESS_MS = 5_000
MAX_TS_MS = 1_700_000_000_000


class Wall:
    def __init__(self, now_s: float = 100.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def started(idle_after_s: float = 1.0) -> tuple[IdleClock, Wall]:
    wall = Wall()
    idle = IdleClock(idle_after_s, clock=wall)
    idle.start()
    return idle, wall


@pytest.mark.parametrize(
    ("elapsed_s", "expected"),
    [
        pytest.param(0.0, None, id="not idle right after the last event"),
        pytest.param(0.999, None, id="not idle just before idle_after_s"),
        pytest.param(1.0, MAX_TS_MS + 1_000 - LATENESS_MS, id="idle at exactly idle_after_s"),
        pytest.param(2.5, MAX_TS_MS + 2_500 - LATENESS_MS, id="the watermark runs on with the wall clock"),
        pytest.param(3600.0, MAX_TS_MS + 3_600_000 - LATENESS_MS, id="an hour of silence moves an hour"),
        pytest.param(1.2349, MAX_TS_MS + 1_234 - LATENESS_MS, id="whole milliseconds, rounded down"),
    ],
)
def test_the_idle_watermark_is_the_last_event_time_plus_the_silence_minus_the_lateness(elapsed_s, expected):
    idle, wall = started()
    wall.now_s += elapsed_s
    assert expected == idle.idle_watermark(MAX_TS_MS, LATENESS_MS, idle.now())


def test_a_stream_that_never_had_an_event_has_no_event_time_to_run_on():
    idle, wall = started()
    wall.now_s += 3600
    assert None is idle.idle_watermark(None, LATENESS_MS, idle.now())


def test_events_that_move_event_time_restart_the_silence():
    idle, wall = started()
    wall.now_s += 5
    idle.applied(MAX_TS_MS, MAX_TS_MS + 10, idle.now())
    assert None is idle.idle_watermark(MAX_TS_MS + 10, LATENESS_MS, idle.now())
    wall.now_s += 1.5
    assert MAX_TS_MS + 10 + 1_500 - LATENESS_MS == idle.idle_watermark(MAX_TS_MS + 10, LATENESS_MS, idle.now())


def test_ignored_or_late_messages_do_not_freeze_the_windows():
    idle, wall = started()
    for _ in range(10):  # a message every 0.5 s that does not move event time
        wall.now_s += 0.5
        idle.applied(MAX_TS_MS, MAX_TS_MS, idle.now())
    assert MAX_TS_MS + 5_000 - LATENESS_MS == idle.idle_watermark(MAX_TS_MS, LATENESS_MS, idle.now())


def test_an_idle_advance_itself_does_not_restart_the_silence():
    # engine.advance() closes windows but leaves the highest event time where it was.
    idle, wall = started()
    wall.now_s += 2
    now_s = idle.now()
    assert MAX_TS_MS + 2_000 - LATENESS_MS == idle.idle_watermark(MAX_TS_MS, LATENESS_MS, now_s)
    idle.applied(MAX_TS_MS, MAX_TS_MS, now_s)
    wall.now_s += 1
    assert MAX_TS_MS + 3_000 - LATENESS_MS == idle.idle_watermark(MAX_TS_MS, LATENESS_MS, idle.now())


def test_the_silence_counts_from_the_start_of_the_lane_not_from_its_construction():
    wall = Wall()
    idle = IdleClock(1.0, clock=wall)
    wall.now_s += 60  # provisioning, restoring, starting the other consumers
    idle.start()
    wall.now_s += 0.5
    assert None is idle.idle_watermark(MAX_TS_MS, LATENESS_MS, idle.now())


def test_the_reading_passed_in_is_the_one_used():
    # A lane reads the wall clock once per batch, before ingesting it.
    idle, wall = started()
    reading = idle.now()
    wall.now_s += 10
    assert None is idle.idle_watermark(MAX_TS_MS, LATENESS_MS, reading)


def test_with_idle_after_zero_any_silence_moves_event_time():
    idle, wall = started(idle_after_s=0)
    wall.now_s += 0.001
    assert MAX_TS_MS + 1 - LATENESS_MS == idle.idle_watermark(MAX_TS_MS, LATENESS_MS, idle.now())


def test_a_negative_idle_after_is_refused():
    with pytest.raises(ValueError):
        IdleClock(-1)


def test_a_stream_that_never_had_an_event_runs_on_the_wall_clock_once_idle():
    wall = Wall()
    idle = IdleClock(1.0, clock=wall, wall_ms=lambda: MAX_TS_MS)
    idle.start()
    wall.now_s += 0.5
    assert None is idle.silent_watermark(LATENESS_MS, idle.now())  # not idle yet: a backlog may come
    wall.now_s += 0.5
    assert MAX_TS_MS - LATENESS_MS == idle.silent_watermark(LATENESS_MS, idle.now())


def test_the_next_boundary_is_due_when_the_idle_watermark_reaches_it():
    # Highest event time 12.3 s past a boundary, last one closed at 0: boundary 10 s is due once the
    # idle watermark, max_ts + silence - 5 s, reaches it: 2.7 s of silence; the idle clock moves no
    # sooner than idle_after_s (1 s) whatever the boundary says.
    idle, wall = started()
    base = MAX_TS_MS - MAX_TS_MS % 10_000
    assert 2.7 == pytest.approx(idle.due_in_s(base + 12_300, base, 10_000, 5_000, idle.now()))
    wall.now_s += 1.0
    assert 1.7 == pytest.approx(idle.due_in_s(base + 12_300, base, 10_000, 5_000, idle.now()))
    assert 0.0 == pytest.approx(idle.due_in_s(base + 14_900, base, 10_000, 5_000, idle.now()))  # idle_after passed
    wall.now_s += 1.7
    assert base + 10_000 == idle.idle_watermark(base + 12_300, 5_000, idle.now())
    fresh, _ = started()
    assert 1.0 == pytest.approx(fresh.due_in_s(base + 14_900, base, 10_000, 5_000, fresh.now()))
    assert None is fresh.due_in_s(None, None, 10_000, 5_000, fresh.now())
