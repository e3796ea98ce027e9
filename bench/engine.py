"""The engine alone, batched path against the per-event reference, in one run.

The engine with the whole config/slo.yaml catalogue takes the synthetic gateway backlog of
bench/throughput_pull.py (N events on ``analytics.gateway.request``, 1 ms apart, 1 % of them 503s;
the subject feeds four SLIs, and the input SLIs count it) in batches, in memory: no bus. Each round
runs both paths on fresh engines, alternating which goes first, and checks that they end with the
same snapshot and outputs. Printed, medians of the rounds: µs per event of each path, their ratio,
and a breakdown of the batched path: decoding alone (as the batched path decodes: one
``orjson.loads`` of the batch joined into an array where that is sound, engine/batch.py), and
the rest; and the batched path over one ``orjson.loads`` per message (what the per-event path
decodes with), a ratio that holds better than µs on a machine whose speed drifts.

Times are this process's CPU time (``time.process_time``): the machine is shared, and wall time
would count the turns of other processes. Building the engine (once per process: the catalogue's
rules and budgets, ~0.2 s) is printed on its own, not spread over the events. The garbage
collector is set as a running processor's lanes set it (processor/runtime/heap.py): the heap
built so far frozen out of its sight (here also the backlog: 200k messages resident at once are
the bench's, not a live lane's, which holds one batch), young collections spaced.

    python bench/engine.py [--n 200000] [--rounds 3] [--batch-size 1000]

The design's goal: the batched path at <= 1.5 µs per gateway event.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from throughput_pull import SUBJECT, gateway_event  # noqa: E402

from processor.config.load import load_config  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.engine.batch import decode_all  # noqa: E402
from processor.engine.outputs import Outputs  # noqa: E402
from processor.runtime.heap import held  # noqa: E402
from tests.enginekit import Msg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T0_MS = 1_767_621_600_000  # 2026-01-05 14:00 UTC


def backlog(n: int) -> list[Msg]:
    return [Msg(SUBJECT, orjson.dumps(gateway_event(i, T0_MS))) for i in range(n)]


def run(config, msgs: list[Msg], batch_size: int, batched: bool) -> tuple[float, Engine, Outputs]:
    """µs per event of one path on a fresh engine, the engine, and its outputs."""
    engine = Engine(config)
    engine.batched = batched
    out = Outputs()
    started_s = time.process_time()
    for i in range(0, len(msgs), batch_size):
        out.extend(engine.ingest(msgs[i : i + batch_size]))
    return (time.process_time() - started_s) * 1e6 / len(msgs), engine, out


def build_s(config) -> float:
    started_s = time.process_time()
    Engine(config)
    return time.process_time() - started_s


def decode_only(msgs: list[Msg], batch_size: int, joined: bool) -> float:
    """µs per event of decoding alone: as the batched path does (``decode_all``: the batch as
    one JSON array where that is sound), or one ``orjson.loads`` per message (the per-event path)."""
    loads = orjson.loads
    started_s = time.process_time()
    for i in range(0, len(msgs), batch_size):
        if joined:
            decode_all(msgs[i : i + batch_size], loads)
        else:
            [loads(m.data) for m in msgs[i : i + batch_size]]
    return (time.process_time() - started_s) * 1e6 / len(msgs)


def main(n: int, rounds: int, batch_size: int) -> None:
    config = load_config(REPO / "config" / "slo.yaml")
    msgs = backlog(n)
    with held():  # the backlog out of the collector's sight, and the collector as lanes run it
        measure(config, msgs, rounds, batch_size)


def measure(config, msgs: list[Msg], rounds: int, batch_size: int) -> None:
    n = len(msgs)
    gateway_slis = [s.name for s in config.slis if s.subject == SUBJECT]
    print(f"{len(config.slis)} SLIs in the catalogue, {len(gateway_slis)} on {SUBJECT}: {', '.join(gateway_slis)}")
    print(f"{n:,} gateway events, batches of {batch_size}")
    batched, per_event, decode, loads_each = [], [], [], []
    for r in range(rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        results = {}
        for path in order:
            results[path] = run(config, msgs, batch_size, path)
        decode.append(decode_only(msgs, batch_size, joined=True))
        loads_each.append(decode_only(msgs, batch_size, joined=False))
        (b_us, b_engine, b_out), (p_us, p_engine, p_out) = results[True], results[False]
        same = b_engine.snapshot_bytes() == p_engine.snapshot_bytes() and b_out == p_out
        batched.append(b_us)
        per_event.append(p_us)
        print(f"  round {r + 1}: batched {b_us:5.2f} µs/event, per-event {p_us:5.2f} µs/event, "
              f"decode {decode[-1]:4.2f} µs (a loads per message {loads_each[-1]:4.2f}); "
              f"same snapshot and outputs: {same}")
        if not same:
            raise SystemExit("the two paths differ")
    b, p, d = statistics.median(batched), statistics.median(per_event), statistics.median(decode)
    each = statistics.median(loads_each)
    print()
    print(f"median of {rounds} rounds:")
    print(f"  batched:   {b:5.2f} µs/event ({1e6 / b:>9,.0f} events/s)   goal <= 1.5 µs")
    print(f"    of which decoding {d:4.2f} µs, the rest {b - d:4.2f} µs")
    print(f"    = {b / each:.2f}x one orjson.loads per message ({each:4.2f} µs here; a measure of this "
          f"machine's speed in the run)")
    print(f"  per-event: {p:5.2f} µs/event ({1e6 / p:>9,.0f} events/s)")
    print(f"  building an engine: {build_s(config) * 1e3:.0f} ms CPU (once per process, not in the figures above)")
    print(f"  ratio per-event / batched: {p / b:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    main(args.n, args.rounds, args.batch_size)
