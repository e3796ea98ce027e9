"""Decode once for two engines: what ``slo backtest`` gains by sharing each message's decode
between the baseline's and the candidate's engine, and what the single-engine path pays for the
``decode`` argument of ``Engine.ingest`` (nothing per message: one choice per batch).

The events: N minutes of ``slo simulate`` traffic (the whole platform, every stream) in memory,
through config/slo.yaml. Runs alternate so neither side always gets the warmer machine; the best
of each is printed as messages/s.

    python bench/backtest_decode.py [--minutes 10] [--rounds 5] [--against OLD_CORE_PY]

``--against`` (e.g. ``git show main:processor/engine/core.py > /tmp/core_main.py``) also times
the single-engine path with that version of ``engine/core.py``, in the same process, alternating.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processor.bus.streams import load_stream_definitions  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.runtime.topology import BUS_LANE, partition_config  # noqa: E402
from processor.simulate import Simulator  # noqa: E402

START_MS = 1_767_621_600_000  # 2026-01-05T14:00:00Z
BATCH = 1000


class Msg:
    __slots__ = ("subject", "data", "reply")

    def __init__(self, subject: str, data: bytes, reply: str) -> None:
        self.subject, self.data, self.reply = subject, data, reply


def batches(minutes: int) -> dict[str, list[list[Msg]]]:
    prefix_stream = {"market": "MARKET", "trade": "TRADE", "ai": "AI", "analytics": "ANALYTICS"}
    by_stream: dict[str, list[Msg]] = {}
    for e in Simulator(START_MS, seed=1).records(START_MS + minutes * 60_000):
        stream = prefix_stream[e.subject.split(".", 1)[0]]
        msgs = by_stream.setdefault(stream, [])
        seq = len(msgs) + 1
        msgs.append(Msg(e.subject, orjson.dumps(e.payload), f"$JS.ACK.{stream}.b.1.{seq}.{seq}.{e.ts_ms * 1_000_000}.0"))
    return {s: [m[i:i + BATCH] for i in range(0, len(m), BATCH)] for s, m in by_stream.items()}


def engines(config, definitions, engine_class: type = Engine) -> dict[str, Engine]:
    parts, _ = partition_config(config, definitions)
    parts.pop(BUS_LANE, None)
    return {name: engine_class(part, stream=name) for name, part in parts.items()}


def other_engine(path: str) -> type:
    """The Engine class of another version of engine/core.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("processor.engine.core_other", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.Engine


def run_single(config, definitions, work, engine_class: type = Engine) -> float:
    lanes = engines(config, definitions, engine_class)
    t = time.perf_counter()
    for stream, bs in work.items():
        for b in bs:
            lanes[stream].ingest(b)
    return time.perf_counter() - t


def decode_alone(work) -> float:
    loads = orjson.loads
    t = time.perf_counter()
    for bs in work.values():
        for b in bs:
            for m in b:
                loads(m.data)
    return time.perf_counter() - t


def run_pair(config, definitions, work, shared: bool) -> float:
    from processor.replay.backtest import SharedDecode

    pair = (engines(config, definitions), engines(config, definitions))
    decode = SharedDecode() if shared else None
    t = time.perf_counter()
    for stream, bs in work.items():
        for b in bs:
            if decode is not None:
                decode.reset()
            for lanes in pair:
                lanes[stream].ingest(b, decode) if decode is not None else lanes[stream].ingest(b)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", default=None, metavar="CORE_PY")
    args = parser.parse_args()
    config = load_config("config/slo.yaml")
    definitions = load_stream_definitions(Path("streams"))
    work = batches(args.minutes)
    n = sum(len(b) for bs in work.values() for b in bs)
    best: dict[str, float] = {}
    runs = {"single engine": lambda: run_single(config, definitions, work)}
    if args.against:
        old = other_engine(args.against)
        runs[f"single engine ({Path(args.against).name})"] = lambda: run_single(config, definitions, work, old)
    runs["decode alone (orjson.loads)"] = lambda: decode_alone(work)
    runs["two engines, each decodes"] = lambda: run_pair(config, definitions, work, False)
    runs["two engines, decode shared"] = lambda: run_pair(config, definitions, work, True)
    for _ in range(args.rounds):
        for name, fn in runs.items():
            best[name] = min(best.get(name, float("inf")), fn())
    print(f"{n:,} messages, best of {args.rounds}")
    for name, seconds in best.items():
        print(f"  {name:28s} {n / seconds:>10,.0f} msg/s  ({seconds:.3f} s)")


if __name__ == "__main__":
    main()
