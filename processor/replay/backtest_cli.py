"""``slo backtest``: the arguments, the pass over history, and what it prints and writes.

Every bad argument (a config that does not validate, a missing file, ``--to`` before ``--from``,
an unreadable incidents or export file) is one line on stderr and exit 1.
"""

from __future__ import annotations

__all__ = ["BacktestResult", "backtest_from_args", "result_of"]

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from processor.bus.history import read_history, stream_range
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.config.model import Config
from processor.errors import ConfigError, ProcessorError
from processor.replay.backtest import Backtest, feed_export
from processor.replay.cli import (ReplayError, _check_held, _check_kafka_args, _clock_moves, _range_ms, _wanted_streams,
                                  empty_range_note, ends_at, open_bus)
from processor.replay.incidents import Incident, load_incidents
from processor.replay.moves import header_moves
from processor.replay.scoring import score_rule_set
from processor.replay.stored import read_export
from processor.replay.tables import diff_table, scores_table
from processor.replay.timeline import Episode, SeriesDiff, diff_timelines, episodes
from processor.runtime.logs import warnings_on_stderr


@dataclass
class BacktestResult:
    baseline: list[Episode]
    candidate: list[Episode]
    diffs: list[SeriesDiff]
    scores: dict | None  # {"baseline": ..., "candidate": ...} with --incidents
    range_ms: tuple[int, int]

    def as_json(self) -> dict:
        return {
            "range_ms": list(self.range_ms),
            "diff": [{"rule": d.rule, "labels": d.labels, "baseline_firing_s": d.baseline_firing_ms / 1000,
                      "candidate_firing_s": d.candidate_firing_ms / 1000, "changes": d.changes} for d in self.diffs],
        }


def result_of(run: Backtest, incidents: list[Incident] | None, range_ms: tuple[int, int]) -> BacktestResult:
    base_side, cand_side = run.sides
    base, cand = episodes(base_side.alerts), episodes(cand_side.alerts)
    diffs = diff_timelines(base, cand, range_ms[1])
    scores = None
    if incidents is not None:
        rules = sorted({e.rule for e in base + cand})
        scores = {side.name: score_rule_set(side.config, eps, incidents, *range_ms, rules=rules)
                  for side, eps in ((base_side, base), (cand_side, cand))}
    return BacktestResult(base, cand, diffs, scores, range_ms)


def _config(path: str, flag: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        first = exc.problems[0]
        more = len(exc.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''}: slo validate {path})" if more else ""
        raise ReplayError(f"{flag} {path} does not validate: {first}{tail}") from None


def _incidents(path: str | None, configs: Sequence[Config]) -> list[Incident] | None:
    if path is None:
        return None
    services = {item.service for config in configs for item in (*config.slis, *config.slos, *config.alerts)}
    slos = {slo.name for config in configs for slo in config.slos}
    try:
        return load_incidents(path, services, slos)
    except ConfigError as exc:
        more = len(exc.problems) - 1
        tail = f" (and {more} more)" if more else ""
        raise ReplayError(f"--incidents: {exc.problems[0]}{tail}") from None


async def _from_streams(args: Any, make: Callable[[dict, list[str]], Backtest], definitions: list[dict],
                        from_ms: int | None, to_ms: int | None) -> Backtest:
    async with open_bus(args) as nc:
        names = _wanted_streams(args, definitions, None)
        ranges = {}
        for name in names:
            ranges[name] = held = await stream_range(nc, name)
            _check_held(held, from_ms)
        run = make(await _clock_moves(nc, names, from_ms, to_ms), names)
        await ends_at(nc, run, ranges, to_ms)
        for name in names:
            async for batch in read_history(nc, name, from_ms=from_ms, to_ms=to_ms, until_seq=ranges[name].last_seq):
                run.feed(name, batch)
    return run


def _run(args: Any, baseline: Config, candidate: Config, definitions: list[dict],
         from_ms: int | None, to_ms: int | None) -> tuple[Backtest, int | None, int | None]:
    out_dir = Path(args.out) if args.out else None

    def make(moves: dict, names: list[str]) -> Backtest:
        return Backtest(baseline, candidate, definitions, moves, names, out_dir, keep_series=bool(args.report))

    if getattr(args, "source", "nats") == "kafka":
        _check_kafka_args(args, "--input")
    elif getattr(args, "from_offset", None):
        raise ReplayError("--from-offset reads Kafka: give --source kafka")
    with warnings_on_stderr():  # stdout carries the report
        if args.input:
            header, messages = read_export(Path(args.input))
            names = _wanted_streams(args, definitions, None)
            run = make(header_moves(header, names, from_ms, to_ms), names)
            feed_export(messages, run, from_ms, to_ms)
            messages.warn_if_cut_short(header, "backtest")
            from_ms = header.get("from_ms") if from_ms is None else from_ms
            to_ms = header.get("to_ms") if to_ms is None else to_ms
        elif getattr(args, "source", "nats") == "kafka":
            from processor.replay.kafka_input import backtest_from_kafka

            run = asyncio.run(backtest_from_kafka(args, make, definitions, from_ms, to_ms, baseline))
        else:
            run = asyncio.run(_from_streams(args, make, definitions, from_ms, to_ms))
        run.finish()
    return run, from_ms, to_ms


def backtest_from_args(args: Any) -> int:
    """``slo backtest``: the exit code."""
    try:
        for flag, path in (("--baseline", args.baseline), ("--candidate", args.candidate), ("--input", args.input),
                           ("--incidents", args.incidents)):
            if path is not None and not Path(path).is_file():
                raise ReplayError(f"{flag} {path}: no such file")
        baseline, candidate = _config(args.baseline, "--baseline"), _config(args.candidate, "--candidate")
        incidents = _incidents(args.incidents, (baseline, candidate))
        definitions = load_stream_definitions(Path(args.streams_dir))
        asked_ms = from_ms, to_ms = _range_ms(args)
        run, from_ms, to_ms = _run(args, baseline, candidate, definitions, from_ms, to_ms)
    except (ProcessorError, ValueError, OSError) as exc:
        print(f"slo backtest: {exc}", file=sys.stderr)
        return 1
    note = empty_range_note("backtest", *asked_ms, run.messages, not args.input and getattr(args, "source", "nats") == "kafka")
    if note:
        print(note, file=sys.stderr)
    seen = run.event_range() or (0, 0)
    start_ms = from_ms if from_ms is not None else seen[0]
    end_ms = to_ms if to_ms is not None else max(seen[1], start_ms)
    result = result_of(run, incidents, (start_ms, end_ms))
    print(diff_table(result, args, run.messages))
    if result.scores is not None:
        print(scores_table(result.scores, incidents or []))
    _write(args, run, result, incidents or [])
    return 0


def _write(args: Any, run: Backtest, result: BacktestResult, incidents: list[Incident]) -> None:
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "diff.json").write_bytes(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2))
        if result.scores is not None:
            (out / "scores.json").write_bytes(orjson.dumps(result.scores, option=orjson.OPT_INDENT_2))
    if args.report:
        from processor.replay.report import render_report

        report = Path(args.report)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(render_report(run, result, incidents), encoding="utf-8")
        print(f"report: {args.report}")
