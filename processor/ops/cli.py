"""`slo status` and `slo tail`: handlers returning the exit code (0; 1 with one line on stderr when
the bus cannot be read). Ctrl-C (or SIGTERM) ends `slo tail` cleanly with 0."""

from __future__ import annotations

__all__ = ["status_from_args", "tail_from_args"]

import asyncio
import base64
import contextlib
import difflib
import os
import signal
import sys
import time
from typing import IO, Any

import nats.js.errors
import orjson

from processor.bus.jsadmin import stored_subjects
from processor.client import KINDS, Output, Subscription, kind_subjects, subject_service
from processor.config.fields import is_token_name
from processor.errors import ProcessorError
from processor.ops.lines import format_line
from processor.ops.status import print_rich, read_status, render_table, status_json
from processor.replay.cli import open_bus
from processor.runtime.logs import warnings_on_stderr
from processor.runtime.serve import connect_options
from processor.vocabulary import SLO_STREAM


# What a `slo tail --durable` of every kind followed before it followed the kinds one by one.
EVERYTHING = "slo.>"


async def _status(args: Any, out: IO[str]) -> None:
    async with open_bus(args) as nc:
        status = await read_status(nc, time.time_ns() // 1_000_000)
    if args.json:
        out.write(orjson.dumps(status_json(status), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif out.isatty():
        print_rich(status, out)
    else:
        out.write(render_table(status) + "\n")


def status_from_args(args: Any, out: IO[str] | None = None) -> int:
    try:
        with warnings_on_stderr():
            asyncio.run(_status(args, out or sys.stdout))
    except ProcessorError as exc:
        print(f"slo status: {exc}", file=sys.stderr)
        return 1
    return 0


def json_line(item: Output) -> str:
    """``--json``: the message as the replay's NDJSON lines have it: subject, seq, headers, data
    (a dead letter's raw message as text, or ``data_b64`` when it is not UTF-8: kept unchanged)."""
    line: dict[str, Any] = {"subject": item.subject, "seq": item.stream_seq}
    if item.headers:
        line["headers"] = item.headers
    if item.body is not None:
        line["data"] = item.body
    else:
        try:
            line["data"] = item.data.decode("utf-8")
        except UnicodeDecodeError:
            line["data_b64"] = base64.b64encode(item.data).decode("ascii")
    return orjson.dumps(line).decode()


async def _tail(args: Any, out: IO[str]) -> None:
    subjects = kind_subjects(args.kind, args.service, args.severity)
    async with open_bus(args) as nc:
        if args.durable and args.kind is None and args.service is None and args.severity is None:
            subjects = await _everything_durable(nc, args.durable) or subjects
        async with Subscription(nc, subjects, durable=args.durable) as sub:
            print(f"following {' '.join(subjects)}" + (f" as durable {args.durable}" if args.durable else "")
                  + " (Ctrl-C stops)", file=sys.stderr, flush=True)
            if args.service is not None:
                await _warn_if_unseen(nc, args.service)

            async def follow() -> None:
                async for item in sub.outputs():
                    if item.kind not in KINDS:
                        continue  # slo.probe, slo.clock.*: a durable of slo.> gets them (_everything_durable)
                    out.write((json_line(item) if args.json else format_line(item)) + "\n")
                    out.flush()

            tasks = {asyncio.create_task(follow())}
            if connect_options(args, os.environ).url is None:  # the embedded server of --store-dir
                tasks.add(asyncio.create_task(_until_gone(nc, args.store_dir)))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
            for task in done:
                task.result()


async def _until_gone(nc: Any, store_dir: str, gone_after_s: float = 3.0) -> None:
    """Raises once the store's embedded server has been unreachable ``gone_after_s``: its `slo run`
    stopped. nats-py would retry its port for ever, and a `slo run` started again listens on
    another port: the tail would wait, silent, for outputs that go elsewhere."""
    down_since_s = None
    while True:
        await asyncio.sleep(0.5)
        if nc.is_connected:
            down_since_s = None
            continue
        down_since_s = down_since_s or time.monotonic()
        if time.monotonic() - down_since_s >= gone_after_s:
            raise ProcessorError(f"the embedded server on {store_dir} stopped (the `slo run` of that store ended); "
                                 f"run `slo tail` again once it runs")


async def _warn_if_unseen(nc: Any, service: str) -> None:
    """A ``--service`` that no stored output names is most likely misspelt: say so, and which
    services have outputs (the tail follows anyway: a service's first output may be yet to come)."""
    if not is_token_name(service):
        return  # a wildcard, or several tokens: not one service's name
    try:
        subjects = await stored_subjects(nc, SLO_STREAM, EVERYTHING)
    except ProcessorError:
        return  # not readable here (permissions): nothing to compare with
    if subjects is None:
        return  # too many to list at once
    seen = {subject_service(subject) for subject in subjects} - {None}
    if seen and service not in seen:
        near = difflib.get_close_matches(service, sorted(seen), n=1)
        print(f"slo tail: no output of service {service!r} is stored on the {SLO_STREAM} stream"
              + (f" (did you mean {near[0]!r}?)" if near else "")
              + f"; services with outputs: {', '.join(sorted(seen))} (following anyway)", file=sys.stderr, flush=True)


async def _everything_durable(nc: Any, durable: str) -> list[str] | None:
    """``["slo.>"]`` when ``durable`` was made by a `slo tail --durable` of every kind before it
    followed the five kinds' subjects: it still resumes (the rest is skipped as it comes)."""
    with contextlib.suppress(nats.js.errors.NotFoundError):
        held = (await nc.jetstream().consumer_info(SLO_STREAM, durable)).config
        if (held.filter_subjects or [held.filter_subject]) == [EVERYTHING]:
            return [EVERYTHING]
    return None


def tail_from_args(args: Any, out: IO[str] | None = None) -> int:
    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await _tail(args, out or sys.stdout)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    try:
        with warnings_on_stderr(), contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(main())
    except (ProcessorError, ValueError) as exc:
        print(f"slo tail: {exc}", file=sys.stderr)
        return 1
    return 0
