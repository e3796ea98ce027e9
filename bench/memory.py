"""The whole catalogue holding 30 days of state at the platform's baseline volume: process RSS, the
checkpoint's size (raw JSON, and zlib-compressed as stored in the KV bucket), and the time to take
and to restore it.

PLATFORM-SLOS.md, "Capacity Planning": the baseline is 10,000 event messages a minute (and 1,000
API requests). Feeding 30 days of it (432M events, 259,200 boundaries per stream) through the
engines would take hours here, so the state is built in two steps:

1. one hour (``--dense-minutes``) of the simulator's traffic for the whole platform at the
   baseline volume (``--rate`` sets it; the events per minute are printed), through one engine
   per stream exactly as `slo run` builds them (runtime/topology.partition_config);
2. the hour tiled back over 30 days in the engines' own snapshot documents: every time-keyed entry
   older than the hour that a structure keeps (an SLI's sub-windows for a horizon past an hour,
   e.g. ai_decision_cost's 30 days; each error budget's 10-second ring for up to 6 h and its
   one-minute ring for 30 days) is the same hour's entry shifted back by whole hours.

At a steady baseline one hour of history looks like any other, and memory and snapshot size depend
on how many entries each structure holds and what they hold (sketch keys, counts), not on the day
they are from: the tiled snapshot is the state that 30 days of that hour would leave. It is then
restored in a fresh process (the path of a restart, engine.restore), which prints its RSS, the
time to restore and to take the checkpoint again, the same state in the previous snapshot format
(version 4: sub-windows as rows) with its size and restore time against today's, and the save and
load through a real KV bucket.

    python bench/memory.py [--rate 80] [--dense-minutes 60] [--checkpoint FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import ctypes
import gc
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor.bus.checkpoint import decode_checkpoint, encode_checkpoint  # noqa: E402
from processor.bus.streams import load_stream_definitions  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.config.parse import subject_pattern_matches  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.engine.budget import pack_ring, unpack_ring  # noqa: E402
from processor.engine.sealed import Sealed  # noqa: E402
from processor.runtime.topology import BUS_LANE, partition_config, stream_subjects  # noqa: E402
from processor.simulate import Simulator  # noqa: E402
from tests.enginekit import Msg  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
T0_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MIN_MS = 60_000
DAY_MS = 86_400_000
BATCH = 5_000


def engines() -> dict[str, Engine]:
    """One engine per stream, as `slo run` has them; the bus monitor's lane is fed by the process
    itself (a few SLIs, probes every 5 s), not by streams, and left out."""
    definitions = load_stream_definitions(REPO / "streams")
    parts, _ = partition_config(load_config(REPO / "config" / "slo.yaml"), definitions)
    return {stream: Engine(part, stream=stream) for stream, part in parts.items() if stream != BUS_LANE}


def rss_mb() -> float:
    """The process's resident set now (not its peak), in MB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def feed_dense(by_stream: dict[str, Engine], rate: float, minutes: int) -> Counter:
    """``minutes`` of the simulator's platform traffic into the engines, in batches per stream."""
    homes = {d["name"]: stream_subjects(d) for d in load_stream_definitions(REPO / "streams")}
    route: dict[str, str | None] = {}
    pending: dict[str, list[Msg]] = {s: [] for s in by_stream}
    counts: Counter = Counter()
    for subject, data in Simulator(T0_MS, seed=5, rate=rate).events(T0_MS + minutes * MIN_MS):
        stream = route.get(subject)
        if subject not in route:
            stream = route[subject] = next((n for n, subs in homes.items() if n in by_stream and any(
                subject_pattern_matches(p, subject) for p in subs)), None)
        counts["all"] += 1
        if stream is None:
            continue
        counts[stream] += 1
        batch = pending[stream]
        batch.append(Msg(subject, data))
        if len(batch) >= BATCH:
            by_stream[stream].ingest(batch)
            batch.clear()
    for stream, batch in pending.items():
        if batch:
            by_stream[stream].ingest(batch)
    return counts


def _tiled(rows: list, newest_ms: int, span_ms: int, keep_ms: int, time_of, shift) -> list:
    """``rows`` plus copies of those of the last ``span_ms`` shifted back by whole spans, as far
    as ``keep_ms`` before ``newest_ms``."""
    recent = [r for r in rows if time_of(r) >= newest_ms - span_ms]
    out = list(rows)
    k = 1
    while newest_ms - (k + 1) * span_ms >= newest_ms - keep_ms:
        out += [shift(r, k * span_ms) for r in recent]
        k += 1
    return out


def tile(engine: Engine, doc: dict, newest_ms: int, span_ms: int) -> dict:
    """The snapshot document of ``engine`` with its last ``span_ms`` tiled back (module docstring)."""
    for sli in engine.slis:
        if sli.horizon_ms <= span_ms:
            continue
        for _, series in doc["slis"][sli.name]["series"]:
            _unseal(series)
            series["subs"] = _tiled(series["subs"], newest_ms, span_ms, sli.horizon_ms, lambda r: r[0],
                                    lambda r, d: [r[0] - d, r[1]])
            if "last" in series:
                series["last"] = _tiled(series["last"], newest_ms, span_ms, sli.horizon_ms, lambda r: r[0],
                                        lambda r, d: [r[0] - d, r[1] - d])
    for tracker, _ in engine.budgets.trackers:
        saved = doc["budgets"][tracker.slo.name]
        for name in ("ring0", "ring1"):
            ring = getattr(tracker, name)
            if ring is None:
                continue
            keep_ms = (ring.size - 2) * ring.bucket_ms
            rows = _tiled(np.stack(unpack_ring(saved[name]), axis=1).tolist(), newest_ms, span_ms, keep_ms,
                          lambda r, b=ring.bucket_ms: r[0] * b, lambda r, d, b=ring.bucket_ms: [r[0] - d // b, r[1], r[2]])
            rows = np.array(sorted(rows), dtype=np.int64).reshape(-1, 3)
            saved[name] = pack_ring(rows[:, 0], rows[:, 1], rows[:, 2])
    return doc


def _unseal(series: dict) -> None:
    """A series' snapshot with its sealed sub-windows (version 5) written as rows (version 4)."""
    saved = series.pop("sealed", None)
    if saved is not None:
        sealed = Sealed.restore(saved)
        series["subs"] = [[int(sealed.starts[i]), sealed.bucket(i).snapshot()] for i in range(len(sealed))] + series["subs"]


def build(args: argparse.Namespace, path: Path) -> None:
    by_stream = engines()
    started = time.perf_counter()
    counts = feed_dense(by_stream, args.rate, args.dense_minutes)
    took_s = time.perf_counter() - started
    per_min = counts["all"] / args.dense_minutes
    print(f"dense: {args.dense_minutes} min of platform traffic, {per_min:,.0f} events/min (baseline 10,000), "
          f"{counts['all']:,} events in {took_s:.1f} s; per stream {dict((k, v) for k, v in counts.items() if k != 'all')}")
    newest_ms = T0_MS + args.dense_minutes * MIN_MS
    docs = {}
    for stream, e in by_stream.items():
        # The tiled document restored and taken again: what an engine holding those 30 days would
        # write (its sub-windows older than an hour sealed, engine/series.py).
        held = engines()[stream]
        assert not held.restore(tile(e, e.snapshot(), newest_ms, args.dense_minutes * MIN_MS))
        docs[stream] = (counts[stream], held.snapshot())
    path.write_bytes(encode_checkpoint(docs))
    print(f"builder peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (not the figure)")


def measure(path: Path) -> None:
    """In a fresh process: restore the 30-day checkpoint, then say what it costs."""
    base_mb = rss_mb()
    by_stream = engines()
    empty_mb = rss_mb()
    raw = path.read_bytes()
    started, cpu = time.perf_counter(), time.process_time()
    states = decode_checkpoint(raw)
    decode_cpu_s = time.process_time() - cpu
    grew = {}
    for stream, (_, doc) in states.items():
        before_mb = rss_mb()
        notes = by_stream[stream].restore(doc)
        assert not notes, notes
        grew[stream] = rss_mb() - before_mb
    restore_s, restore_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    del states
    gc.collect()
    held_mb = rss_mb()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what the allocator keeps of the decoded document, given back
    trimmed_mb = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    docs = {stream: (0, e.snapshot()) for stream, e in by_stream.items()}
    encoded = encode_checkpoint(docs)
    take_s, take_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    raw_json = orjson.dumps({"streams": {n: d for n, (_, d) in docs.items()}})
    print(f"RSS: {held_mb:.0f} MB holding 30 days of state after the restore, {trimmed_mb:.0f} MB once the allocator "
          f"gives back the decoded document (malloc_trim) (goal < 200 MB); interpreter and imports {base_mb:.0f} MB, "
          f"the empty engines {empty_mb:.0f} MB")
    print(f"checkpoint: {len(raw_json) / 2**20:.1f} MB of JSON, {len(encoded) / 2**20:.2f} MB zlib as stored in KV; "
          f"take (snapshot + encode) {take_s:.2f} s ({take_cpu_s:.2f} s CPU), restore (decode + restore) "
          f"{restore_s:.2f} s ({restore_cpu_s:.2f} s CPU)")
    print(f"restore: decode {decode_cpu_s:.2f} s CPU; RSS grew by stream while restoring (MB): "
          + ", ".join(f"{k} {v:.0f}" for k, v in grew.items())
          + f"; peak RSS of the process, restore and take included: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (decoded or built documents "
          f"beside the state)")
    fresh = engines()
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for stream, (_, doc) in decode_checkpoint(raw).items():
        fresh[stream].restore(doc)
    profile.disable()
    print("restore (a second one, profiled), most CPU (own time): " + ", ".join(
        f"{fn[2]} ({Path(fn[0]).name}:{fn[1]}) {tt:.2f} s"
        for fn, (_, _, tt, _, _) in sorted(pstats.Stats(profile).stats.items(), key=lambda kv: -kv[1][2])[:5]))
    print("largest parts (JSON MB): " + ", ".join(f"{name} {size / 2**20:.1f}" for name, size in _largest(docs)))
    _previous_format(docs, len(raw_json), len(encoded), restore_cpu_s)
    asyncio.run(_through_kv(encoded))


def _previous_format(docs: dict, json_bytes: int, stored_bytes: int, restore_cpu_s: float) -> None:
    """The same state in snapshot version 4 (every sub-window a [start, bucket] row), encoded and
    restored here by today's code, against version 5 above; and the RSS that restore leaves."""
    cpu = time.process_time()
    old = {stream: (0, _as_version_4(doc)) for stream, (_, doc) in docs.items()}
    encoded = encode_checkpoint(old)
    take_s = time.process_time() - cpu
    old_json = len(orjson.dumps({"streams": {n: d for n, (_, d) in old.items()}}))
    del old
    print(f"previous format (version 4, sub-windows as rows) of the same state: {old_json / 2**20:.1f} MB of JSON, "
          f"{len(encoded) / 2**20:.2f} MB zlib; encode {take_s:.2f} s CPU (rows built from the sealed arrays included); "
          f"version 5 / version 4: JSON {json_bytes / old_json:.2f}, stored {stored_bytes / len(encoded):.2f}")
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(encoded)
        f.flush()
        # Its restore in a fresh process of its own, for the RSS it leaves.
        subprocess.run([sys.executable, __file__, "--measure-v4", f.name, "--v5-restore-cpu", str(restore_cpu_s)],
                       check=True)


def _as_version_4(doc: dict) -> dict:
    slis = {}
    for name, entry in doc["slis"].items():
        series = []
        for labels, saved in entry["series"]:
            saved = dict(saved)
            _unseal(saved)
            series.append([labels, saved])
        slis[name] = {**entry, "series": series}
    return {**doc, "version": 4, "slis": slis}


def measure_v4(path: Path, v5_restore_cpu_s: float) -> None:
    by_stream = engines()
    raw = path.read_bytes()
    cpu = time.process_time()
    for stream, (_, doc) in decode_checkpoint(raw).items():
        assert not by_stream[stream].restore(doc)
    restore_s = time.process_time() - cpu
    gc.collect()
    held_mb = rss_mb()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(f"previous format restored by today's code (sealed as it restores): decode + restore {restore_s:.2f} s CPU "
          f"(version 5 / version 4: {v5_restore_cpu_s / restore_s:.2f}); RSS {held_mb:.0f} MB after it, "
          f"{rss_mb():.0f} MB after malloc_trim")


def _largest(docs: dict) -> list[tuple[str, int]]:
    sizes = []
    for stream, (_, doc) in docs.items():
        for name, entry in doc["slis"].items():
            sizes.append((f"{stream}/sli {name}", len(orjson.dumps(entry))))
        sizes.append((f"{stream}/budgets", len(orjson.dumps(doc["budgets"]))))
    return sorted(sizes, key=lambda x: -x[1])[:5]


async def _through_kv(encoded: bytes) -> None:
    from processor.bus.checkpoint import CheckpointStore
    from processor.bus.connect import ConnectOptions, connect
    from processor.bus.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory() as tmp:
        async with EmbeddedServer(Path(tmp) / "nats") as server:
            nc = await connect(ConnectOptions(url=server.url))
            store = CheckpointStore(nc, key="bench")
            started = time.perf_counter()
            await store.save(encoded)
            save_s = time.perf_counter() - started
            started = time.perf_counter()
            loaded = await store.load()
            load_s = time.perf_counter() - started
            assert loaded == encoded
            print(f"KV bucket (embedded nats-server): save {save_s:.2f} s, load {load_s:.2f} s "
                  f"({len(encoded) / 2**20:.2f} MB, parts of {nc.max_payload // 1024} KB at most)")
            await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=80.0, help="the simulator's gateway requests per second")
    parser.add_argument("--dense-minutes", type=int, default=60)
    parser.add_argument("--checkpoint", default=None, metavar="FILE",
                        help="keep the built 30-day checkpoint in FILE, or measure the one already there")
    parser.add_argument("--measure", default=None, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--measure-v4", default=None, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--v5-restore-cpu", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(Path(args.measure))
        return
    if args.measure_v4:
        measure_v4(Path(args.measure_v4), args.v5_restore_cpu)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.checkpoint) if args.checkpoint else Path(tmp) / "checkpoint.bin"
        if not path.exists():
            build(args, path)
        subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True)


if __name__ == "__main__":
    main()
