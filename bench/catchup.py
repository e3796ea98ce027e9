"""The cost of a long watermark jump, against boundary-by-boundary evaluation, in one run.

The engine with the whole of config/slo.yaml takes ten minutes of the platform's traffic (the
simulator, with an incident), then one event far in the future of it moves the watermark across
the gap: every alert, budget and absence condition of the catalogue has state. Printed:

- skipping (the engine as shipped): CPU time and peak RSS of a jump of each ``--days``;
- every boundary (skipping off, the reference the property tests compare with): CPU time of a
  ``--baseline-hours`` jump, scaled to each gap (its cost is linear in the boundaries crossed);
- the ratio of the two.

    python bench/catchup.py [--days 1,30,365] [--baseline-hours 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor.config.load import load_config  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.simulate import Simulator  # noqa: E402
from processor.simulate.incidents import parse_incident  # noqa: E402
from tests.enginekit import Msg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T0_MS = 1_767_621_600_000  # 2026-01-05 14:00 UTC
MIN_MS = 60_000
DAY_MS = 86_400_000


def _loaded_engine(config) -> Engine:
    incident = parse_incident("outage:gateway=0.05@3m+4m").at(T0_MS)
    events = Simulator(T0_MS, seed=3, rate=5.0, incidents=(incident,)).records(T0_MS + 10 * MIN_MS)
    engine = Engine(config)
    engine.ingest([Msg(e.subject, orjson.dumps(e.payload)) for e in events])
    return engine


def _jump_cpu_s(config, gap_ms: int, skipping: bool) -> tuple[float, int]:
    engine = _loaded_engine(config)
    engine.skip_quiet_boundaries = skipping
    started = time.process_time()
    out = engine.advance(T0_MS + 10 * MIN_MS + gap_ms)
    return time.process_time() - started, len(out.alerts) + len(out.budgets) + len(out.slis) + len(out.actions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", default="1,30,365", help="gaps to jump, in days (comma-separated)")
    parser.add_argument("--baseline-hours", type=float, default=3.0, help="gap of the boundary-by-boundary run")
    args = parser.parse_args()
    config = load_config(REPO / "config" / "slo.yaml")
    baseline_ms = int(args.baseline_hours * 3_600_000)
    slow_s, _ = _jump_cpu_s(config, baseline_ms, skipping=False)
    per_boundary_s = slow_s / (baseline_ms // config.defaults.resolution_ms)
    print(f"every boundary: {args.baseline_hours:g} h jump in {slow_s:.2f} s CPU ({per_boundary_s * 1e3:.2f} ms per boundary)")
    for days in (float(d) for d in args.days.split(",")):
        gap_ms = int(days * DAY_MS)
        fast_s, outputs = _jump_cpu_s(config, gap_ms, skipping=True)
        slow_est_s = per_boundary_s * gap_ms / config.defaults.resolution_ms
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{days:g}-day jump: {fast_s:.2f} s CPU skipping ({outputs} outputs, peak RSS {rss_mb:.0f} MB); "
            f"every boundary ~{slow_est_s:.0f} s; ratio {slow_est_s / fast_s:.0f}x"
        )


if __name__ == "__main__":
    main()
