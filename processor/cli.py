"""The ``slo`` command line: ``slo validate``, ``run``, ``replay``, ``export``, ``backtest``, ``simulate``,
``status`` and ``tail``.

Handlers return the process exit code; ``main`` never calls ``sys.exit`` itself so that tests can
call it directly (argparse still exits with 2 on a usage error, as every CLI does).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from processor.errors import ConfigError, ProcessorError
from processor.vocabulary import PULL_BATCH_SIZE

__all__ = ["build_parser", "main"]

DEFAULT_CONFIG = "config/slo.yaml"
DEFAULT_STREAMS_DIR = "streams"
_MAX_BATCH_SIZE = 50_000  # a lane holds two batches, decoded: past this, a larger one only costs memory
_URL_ENV = "NATS server URL, comma-separated for a cluster (default SLO_NATS_URL, then NATS_URL)"
_STORE_URL_HELP = f"{_URL_ENV}; without any, the embedded server on --store-dir: the running one, or one started on its store"


def _cmd_validate(args: argparse.Namespace) -> int:
    from processor.config.load import load_config

    try:
        config = load_config(args.path)
    except ConfigError as exc:
        print(exc.report(args.path), file=sys.stderr)
        return 1
    ok = (f"OK: {args.path}: {_count(len(config.slis), 'SLI')}, {_count(len(config.slos), 'SLO')}, "
          f"{_count(len(config.alerts), 'alert rule')}")
    _warn_unset_secrets(config)
    if args.services is None and args.partitions is None and args.partition_by is None:
        print(ok)
        return 0
    from processor.ops.sidecar import describe_partition, describe_partitions

    try:  # described before anything is printed: no OK above an unknown service's error
        if args.partitions is None and args.partition_by is None:
            described = describe_partition(config, args.services, args.streams_dir, args.instance)
        else:
            described = describe_partitions(config, args.services, args.partitions, args.partition_by, args.streams_dir,
                                            args.instance, getattr(args, "rest_apart", False), _run_options(args))
    except ProcessorError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(ok)
    print(described)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    # Imported here so that `slo validate` needs neither nats nor the runtime (nor faust).
    if args.source == "kafka":
        from processor.kafka.run import run_from_args
    else:
        from processor.runtime.serve import run_from_args

    if args.outputs == "kafka":  # needs the kafka extra: imported only when asked for
        from processor.kafka.sink import kafka_outputs


        return int(run_from_args(args, kafka_outputs(args.kafka_brokers, args.kafka_output_prefix,
                                                     idempotent=args.kafka_idempotence == "on")))
    return int(run_from_args(args))


def _cmd_replay(args: argparse.Namespace) -> int:
    from processor.replay.cli import replay_from_args

    return int(replay_from_args(args))


def _cmd_export(args: argparse.Namespace) -> int:
    from processor.replay.export import export_from_args

    return int(export_from_args(args))


def _cmd_backtest(args: argparse.Namespace) -> int:
    from processor.replay.backtest_cli import backtest_from_args

    return int(backtest_from_args(args))


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.out and not args.list_incidents:
        from processor.replay.simfile import simulate_to_file

        return int(simulate_to_file(args))
    from processor.simulate.cli import run_from_args as simulate_from_args

    return int(simulate_from_args(args))


def _cmd_status(args: argparse.Namespace) -> int:
    from processor.ops.cli import status_from_args

    return int(status_from_args(args))


def _cmd_tail(args: argparse.Namespace) -> int:
    from processor.ops.cli import tail_from_args

    return int(tail_from_args(args))


def _simulate_type(parser_name: str, what: str) -> Callable[[str], object]:
    """An argparse type from a parser of processor.simulate.cli, imported only when used; its
    ValueError becomes argparse's "argument --x: <message>"."""

    def convert(text: str) -> object:
        from processor.simulate import cli as simulate_cli

        try:
            return getattr(simulate_cli, parser_name)(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what
    return convert


def _instance_name(text: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: use 1-32 letters, digits, _ or - (it becomes part of consumer names)")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _warn_unset_secrets(config: Any) -> None:
    """The environment variables the alertmanager section names and this environment lacks: said
    on stderr (the file is valid, and CI may validate without secrets), as `slo run` refuses them."""
    if config.alertmanager is None:
        return
    import os

    from processor.runtime.alertmanager import credentials

    try:
        credentials(config.alertmanager, os.environ)
    except ProcessorError as exc:
        print(f"warning: {exc}: `slo run` with this config refuses to start until it is", file=sys.stderr)


def _run_options(args: argparse.Namespace) -> str:
    """``--config`` and ``--streams-dir`` as `slo run` needs them to run what validate read, when
    they are not its defaults: the commands validate prints then run as printed."""
    given = (("--config", args.path, DEFAULT_CONFIG), ("--streams-dir", args.streams_dir, DEFAULT_STREAMS_DIR))
    return "".join(f" {flag} {shlex.quote(str(value))}" for flag, value, default in given if str(value) != default)


def _batch_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= _MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of messages, at least 1 and at most "
                                         f"{_MAX_BATCH_SIZE} (a lane holds two batches, decoded: a larger one only "
                                         f"costs memory)")
    return size


def _severity(text: str) -> str:
    # A misspelt severity would follow a subject nothing is ever published on, silently.
    from typing import get_args

    from processor.config.model import Severity

    if text not in get_args(Severity):
        raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(get_args(Severity))}")
    return text


def _partition_by(text: str) -> str:
    from processor.runtime.partitions import parse_partition_by

    try:
        parse_partition_by(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _partition(text: str) -> str:
    from processor.runtime.partitions import REST, parse_partition

    if text.strip() == REST:
        return text.strip()
    try:
        parse_partition(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


_PARTITION_BY_HELP = ("the hot subject as publishers send it, its key token named by the payload label that carries "
                      "the same value, e.g. market.quote.{symbol}; its stream must store it with a partition token "
                      "appended (the subject_transform that `slo validate --partitions N --partition-by ...` prints)")


def _add_partition_arguments(parser: argparse.ArgumentParser, run: bool, replay: bool = False) -> None:
    """`slo run --partition I/N --partition-by S`, `slo replay --partition I/N --partition-by S` and
    `slo validate --partitions N --partition-by S`."""
    if replay:
        parser.add_argument(
            "--partition", default=None, type=_partition, metavar="I/N",
            help="replay what `slo run --partition I/N` (or rest) evaluated: its part of the config, only the "
            "messages its consumers were delivered, and the time moves its own idle clock recorded "
            "(slo.clock.<stream>.p<I>of<N>); --from-checkpoint kv is then its checkpoint (key p<I>of<N>). "
            "Replay each partition in turn: together they write what the N instances published (docs/scaling.md)",
        )
    elif run:
        parser.add_argument(
            "--partition", default=None, type=_partition, metavar="I/N",
            help="run partition I (0 to N-1) of N of the hot subject --partition-by names: consume only the messages "
            "stored with partition token I (from the shared stream, or from its own stream when --streams-dir has "
            "one) and evaluate the SLIs that read them; partition 0 also evaluates every other SLI (of --services, "
            "or all) unless --rest-apart. Durables and checkpoint key end in _p<I>of<N>. `--partition rest`: every "
            "SLI but those of the hot subject (with partitions run --rest-apart), durables and checkpoint key "
            "rest. Refused, naming the SLIs, when the config cannot be split (docs/scaling.md)",
        )
    else:
        parser.add_argument(
            "--partitions", default=None, type=int, metavar="N",
            help="also say whether the config (or the part --services names) can be split into N partitions of "
            "--partition-by, naming every SLI that cannot and why (exit 1), and print each partition's SLIs, "
            "filter subjects and durables and the stream's subject_transform",
        )
    parser.add_argument("--partition-by", default=None, type=_partition_by, metavar="SUBJECT", help=_PARTITION_BY_HELP)
    parser.add_argument("--rest-apart", action="store_true",
                        help="partition 0 too evaluates only the SLIs of the hot subject, so that every partition's "
                        "durable reads that subject alone; every other SLI is evaluated by a `--partition rest` "
                        "instance run from the same config")


def _lease_ttl(text: str) -> float:
    from processor.config.parse import parse_duration_ms

    try:
        ttl_ms = parse_duration_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not 1_000 <= ttl_ms <= 60_000:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1s to 60s")
    return ttl_ms / 1000


def _http_address(text: str) -> tuple[str, int]:
    from processor.runtime.http import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_kafka_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--source", choices=["nats", "kafka"], default="nats",
                     help="where the events come from: NATS JetStream (default) or Kafka (docs/kafka.md; needs the "
                     "kafka extra); the outputs go where --outputs says")
    run.add_argument("--kafka-brokers", default=None, metavar="HOST:PORT,…", help="with --source kafka: the bootstrap "
                     "brokers (default: kafka.brokers of the config)")
    run.add_argument("--topics", default=None, metavar="T,…", help="with --source kafka: the topics to read (default: "
                     "kafka.topics of the config; a topic it does not list takes the subject from the field type)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slo", description="Streaming SLI/SLO processor on NATS JetStream.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a config file and report every problem")
    validate.add_argument("path", nargs="?", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    validate.add_argument("--services", default=None, metavar="S,…",
                          help="also say what `slo run --services S,…` would evaluate and consume: per stream its "
                          "SLIs, SLOs, alert rules, filter subjects and durable consumer")
    validate.add_argument("--streams-dir", default=DEFAULT_STREAMS_DIR, help=f"JetStream stream definitions (default {DEFAULT_STREAMS_DIR})")
    validate.add_argument("--instance", default="default", type=_instance_name, help="as `slo run --instance`")
    _add_partition_arguments(validate, run=False)
    validate.set_defaults(handler=_cmd_validate)

    # ---- runtime commands: `run` is wired to processor.runtime.serve ----
    run = commands.add_parser("run", help="consume events (NATS JetStream, or Kafka) and evaluate SLOs live")
    run.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    _add_connection_arguments(run, f"{_URL_ENV}; without any, an embedded nats-server is started on --store-dir")
    run.add_argument("--batch-size", type=_batch_size, default=PULL_BATCH_SIZE, metavar="N", help=f"messages per pull request (default {PULL_BATCH_SIZE}, at most {_MAX_BATCH_SIZE})")
    run.add_argument(
        "--instance",
        default="default",
        type=_instance_name,
        help="names this processor's durable consumers (slo_<instance>_<stream>) and checkpoint key; "
        "give each replica its own (default: default, consumers slo_<stream>; with --services: sc_<services>)",
    )
    run.add_argument(
        "--services", default=None, metavar="S,…",
        help="sidecar mode: evaluate only these services' SLIs (with their SLOs and alert rules; the SLIs on "
        "slo.input.> stay) and consume only their subjects (one durable per stream filtered to them), under its own "
        "consumers and checkpoint so that it can run next to a full processor",
    )
    _add_partition_arguments(run, run=True)
    run.add_argument(
        "--http",
        metavar="ADDR",
        type=_http_address,
        default=None,
        help="serve /metrics, /healthz, /readyz and the SLO page on ADDR: HOST:PORT, [V6]:PORT or PORT alone "
        "(loopback), e.g. 127.0.0.1:9464 (default: off; bind beyond loopback only on purpose)",
    )
    _add_standby_arguments(run)
    _add_kafka_arguments(run)
    _add_kafka_output_arguments(run)
    run.set_defaults(handler=_cmd_run)
    # ---- end of runtime commands ----

    _add_history_commands(commands)
    _add_backtest_command(commands)
    _add_operate_commands(commands)

    _add_simulate_arguments(commands.add_parser(
        "simulate",
        help="publish synthetic platform traffic, with injected incidents, to a running NATS (or to a file: --out)",
        description="Publish realistic events on every subject of the trading platform to NATS "
        "JetStream (a running `slo run` or NATS server), with named incidents to inject; or write them to an "
        "export file (--out) that `slo replay --input` and `slo backtest --input` read.",
    ))

    return parser


def _add_history_commands(commands: Any) -> None:
    """`slo replay` and `slo export` (processor.replay)."""
    replay = commands.add_parser(
        "replay",
        help="run history (the streams, or an export file) through the same engines and write every output",
        description="Read each stream from --from to --to (ephemeral consumers: nothing of a live processor "
        "is touched) or an export file, through the engines of `slo run`, making the time moves the live run "
        "recorded on slo.clock.<stream> (a --partition's own on slo.clock.<stream>.p<I>of<N>); write every output "
        "as NDJSON (files in --out, or stdout). Nothing is "
        "published unless --publish-prefix is given, and never on the live slo.> subjects. A progress bar on a "
        "terminal (JSON log lines every 5 s otherwise); Ctrl-C stops after the batch in hand, keeps what was written, "
        "and exits 130 with summary.json saying where each stream stopped.",
    )
    replay.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    _add_range_arguments(replay)
    replay.add_argument("--input", default=None, metavar="FILE",
                        help="an export file (NDJSON, .gz or not) to replay instead of the streams: no NATS needed")
    replay.add_argument("--out", default=None, metavar="DIR",
                        help="write alerts.ndjson, budget.ndjson, sli.ndjson, actions.ndjson, deadletter.ndjson, "
                        "summary.json and checkpoint.bin (the final state, for --from-checkpoint) here "
                        "(default: every output line on stdout)")
    replay.add_argument("--publish-prefix", default=None, metavar="P",
                        help="publish the outputs to NATS as P.<subject> (e.g. replay.slo.alerts...) instead; "
                        "never slo or a prefix that lands on the live slo.> subjects")
    replay.add_argument("--from-checkpoint", default=None, metavar="SRC",
                        help="start from a checkpoint instead of empty state, each stream right after the sequence it "
                        "holds: kv (the one `slo run` keeps in the KV bucket), kv:<instance> (`slo run --instance`), "
                        "or a file (`slo export --checkpoint-out`, or the checkpoint.bin of an earlier --out)")
    _add_partition_arguments(replay, run=False, replay=True)
    _add_connection_arguments(replay, _STORE_URL_HELP)
    replay.set_defaults(handler=_cmd_replay)

    export = commands.add_parser(
        "export",
        help="write the streams' messages in a time range to a file that `slo replay --input` reads",
        description="Write every message of the streams from --from to --to (subject, headers, payload, stream "
        "timestamp, sequence), and the time moves the live run recorded, to an NDJSON file (gzip when it ends "
        "in .gz). MARKET keeps one hour and AI one day: export an incident while the streams still hold it. "
        "Ctrl-C: the file keeps its whole lines and ends with a trailer marked interrupted; exit 130.",
    )
    _add_range_arguments(export, "every stream of --streams-dir but SLO")
    export.add_argument("--out", default=None, metavar="FILE",
                        help="the file to write (events.ndjson or events.ndjson.gz), as FILE.partial until it ends")
    export.add_argument("--checkpoint-out", default=None, metavar="FILE",
                        help="also save the checkpoint a live `slo run` keeps in the KV bucket to FILE (for `slo replay "
                        "--from-checkpoint FILE`); without --from, --out then holds the events after it")
    export.add_argument("--instance", default="default", type=_instance_name, metavar="NAME",
                        help="whose checkpoint --checkpoint-out saves: `slo run --instance` (default: default)")
    export.add_argument("--config", default=None, metavar="PATH",
                        help="with --source kafka: the config whose kafka: section maps the topics to subjects")
    _add_connection_arguments(export, _STORE_URL_HELP)
    export.set_defaults(handler=_cmd_export)


def _add_operate_commands(commands: Any) -> None:
    """`slo status` and `slo tail` (processor.ops)."""
    status = commands.add_parser(
        "status",
        help="every SLO's remaining budget, policy tier, burn rates and firing alerts, from the SLO stream",
        description="Reads the latest budget report of every SLO (the last message of each slo.budget.<service>.<slo>) "
        "and the alert transitions of the last 30 days (slo.alerts.>, folded by fingerprint: firing when the last "
        "transition is) and prints a table (drawn by rich on a terminal, plain text otherwise).",
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts: {slos: [...], firing: [...]}")
    _add_connection_arguments(status, _STORE_URL_HELP)
    status.set_defaults(handler=_cmd_status)

    tail = commands.add_parser(
        "tail",
        help="follow the processor's outputs (slo.>) one line each, or as JSON",
        description="Follows the outputs on the SLO stream from now (an ephemeral consumer), or with --durable NAME "
        "through a durable consumer that resumes after the last message it printed. Ctrl-C stops cleanly.",
    )
    tail.add_argument("kind", nargs="?", default=None, choices=["alerts", "actions", "budget", "sli", "deadletter"],
                      help="only this kind of output (default: every kind; not the processor's own slo.probe and slo.clock.*)")
    tail.add_argument("--service", default=None, help="only this service's outputs")
    tail.add_argument("--severity", default=None, type=_severity, help="only alerts of this severity: info, warning, "
                      "critical, emergency, page or ticket")
    tail.add_argument("--durable", default=None, metavar="NAME",
                      help="a durable consumer of that name: a later `slo tail --durable NAME` resumes where this stopped")
    tail.add_argument("--json", action="store_true",
                      help="one JSON object a line: {subject, seq, headers?, data}")
    _add_connection_arguments(tail, _STORE_URL_HELP)
    tail.set_defaults(handler=_cmd_tail)


def _add_backtest_command(commands: Any) -> None:
    """`slo backtest` (processor.replay.backtest_cli)."""
    backtest = commands.add_parser(
        "backtest",
        help="run history through a baseline and a candidate config, diff their alerts and score them against incidents",
        description="One pass over history (the streams from --from to --to, or an export file) through two engines per "
        "stream, --baseline and --candidate: prints the diff of their alert timelines (alerts that appear, disappear "
        "or move, and the time spent firing) and, with --incidents, precision, recall, detection time, reset time "
        "and pages per week of each rule and rule set (docs/backtest.md).",
    )
    backtest.add_argument("--baseline", required=True, metavar="PATH", help="the config in use (e.g. config/slo.yaml)")
    backtest.add_argument("--candidate", required=True, metavar="PATH", help="the changed config to compare with it")
    _add_range_arguments(backtest, "every stream of --streams-dir but SLO")
    backtest.add_argument("--input", default=None, metavar="FILE",
                          help="an export file (NDJSON, .gz or not; `slo export` or `slo simulate --out`) instead of the streams")
    backtest.add_argument("--incidents", default=None, metavar="FILE",
                          help="labelled incidents (YAML list of service or slo, start, end, severity) to score both configs against")
    backtest.add_argument("--report", default=None, metavar="FILE", help="write a self-contained HTML report here")
    backtest.add_argument("--out", default=None, metavar="DIR",
                          help="write diff.json, scores.json and each side's outputs (baseline/, candidate/) here")
    _add_connection_arguments(backtest, _STORE_URL_HELP)
    backtest.set_defaults(handler=_cmd_backtest)


def _add_kafka_output_arguments(run: argparse.ArgumentParser) -> None:
    """`slo run --outputs kafka` (processor/kafka/sink.py, docs/kafka-outputs.md)."""
    run.add_argument("--outputs", choices=["nats", "kafka"], default="nats",
                     help="where the outputs go: nats (the slo.> subjects, default) or kafka (topics slo.alerts, "
                     "slo.budget, slo.actions, slo.deadletter, slo.sli, slo.clock keyed by service; the kafka extra)")
    run.add_argument("--kafka-output-prefix", default="slo", metavar="P",
                     help="--outputs kafka writes to the topics P.alerts, P.budget, ... (default slo)")
    run.add_argument("--kafka-idempotence", choices=["on", "off"], default="on",
                     help="--outputs kafka: the idempotent producer (default on; off for a broker without "
                     "InitProducerId v0 such as Tansu: consumers dedupe by Slo-Msg-Id either way)")


def _add_kafka_history_arguments(parser: argparse.ArgumentParser) -> None:
    """`--source kafka` of replay, export and backtest (processor/replay/kafka_input.py)."""
    parser.add_argument("--source", choices=["nats", "kafka"], default="nats",
                        help="read history from the NATS streams (default) or from Kafka topics (the kafka extra)")
    parser.add_argument("--kafka-brokers", default=None, metavar="HOST:PORT,…",
                        help="with --source kafka: the bootstrap brokers (default: kafka.brokers of the config)")
    parser.add_argument("--topics", default=None, metavar="T,…",
                        help="with --source kafka: the topics to read (default: kafka.topics of the config)")
    parser.add_argument("--kafka-engines", choices=["partition", "stream"], default="partition",
                        help="with --source kafka: an engine per topic-partition as `slo run --source kafka` runs "
                        "(default), or per stream of streams/ with the partitions merged in time order, as the "
                        "same events on NATS (export writes streams either way)")
    parser.add_argument("--from-offset", default=None, metavar="N|T:P:N,…",
                        help="with --source kafka: start every partition at offset N, or the partitions named "
                        "topic:partition:offset (the others from --from, or their earliest)")


def _add_range_arguments(parser: argparse.ArgumentParser, streams_default: str = "every stream the config reads") -> None:
    parser.add_argument("--from", dest="from_", default=None, metavar="T",
                        help="start: RFC 3339 with a zone (2026-01-05T14:00:00Z), now, or now-<duration> such as "
                        "now-1h (default: the oldest message held)")
    parser.add_argument("--to", default=None, metavar="T", help="end, in the same forms (default: the newest message)")
    parser.add_argument("--streams", default=None, metavar="MARKET,TRADE,...",
                        help=f"only these event streams, not SLO (default: {streams_default})")
    _add_kafka_history_arguments(parser)


def _add_standby_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--standby", action="store_true",
        help="run as one of several instances of the same --instance (each started with --standby): the one "
        "holding the lease (a key of the slo_leases KV bucket) is active, the others wait and take over within the "
        "TTL of its death (docs/availability.md); off: a single instance, as before",
    )
    run.add_argument("--lease-ttl", type=_lease_ttl, default=None, metavar="DURATION",
                     help="with --standby: how long the lease outlives its holder's last renewal, the same for every "
                     "instance (default 5s; 1s to 60s)")


def _add_connection_arguments(parser: argparse.ArgumentParser, url_help: str) -> None:
    parser.add_argument("--nats-url", default=None, help=url_help)
    parser.add_argument("--streams-dir", default=DEFAULT_STREAMS_DIR, help=f"JetStream stream definitions (default {DEFAULT_STREAMS_DIR})")
    parser.add_argument("--store-dir", default=".slo", help="embedded server store and local state (default .slo)")
    parser.add_argument("--user", default=None, help="NATS user (or SLO_NATS_USER)")
    parser.add_argument("--password", default=None,
                        help="NATS password (prefer SLO_NATS_PASSWORD: arguments show in the process list)")
    parser.add_argument("--token", default=None, help="NATS token (prefer SLO_NATS_TOKEN)")
    parser.add_argument("--creds", default=None, help="NATS credentials file, user JWT and NKey seed (or SLO_NATS_CREDS)")
    parser.add_argument("--nkey-seed", default=None, metavar="FILE", help="file holding the NATS user's NKey seed, SU... (or SLO_NATS_NKEY_SEED)")
    parser.add_argument("--tls-ca", default=None, help="CA certificate to verify the server (or SLO_NATS_TLS_CA)")
    parser.add_argument("--tls-cert", default=None, help="client certificate (or SLO_NATS_TLS_CERT)")
    parser.add_argument("--tls-key", default=None, help="client certificate key (or SLO_NATS_TLS_KEY)")


def _add_simulate_arguments(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument("--nats-url", default=None, help=_URL_ENV)
    simulate.add_argument(
        "--rate", type=_simulate_type("parse_positive_number", "rate"), default=20.0,
        help="gateway requests per second of event time, the busiest subject; the other "
        "request-driven subjects scale with it (default 20)",
    )
    simulate.add_argument(
        "--duration", type=_simulate_type("parse_positive_duration", "duration"), default="10m",
        help="event time to generate, e.g. 90s, 10m, 1h (default 10m)",
    )
    pace = simulate.add_mutually_exclusive_group()
    pace.add_argument(
        "--time-scale", type=_simulate_type("parse_positive_number", "time scale"), default=1.0,
        help="publish paced at this many times real time (default 1)",
    )
    pace.add_argument("--fast", action="store_true", help="publish as fast as possible")
    simulate.add_argument(
        "--start", type=_simulate_type("check_start", "start"), default="now",
        help="event time of the first event, RFC 3339 such as 2026-01-05T14:30:00Z; or now (the default): "
        "the run ends at the wall clock, so no event is published before its own time (with --time-scale K "
        "it starts D*(1-1/K) before now, with --fast D before now, D the duration)",
    )
    simulate.add_argument("--seed", type=int, default=0, help="random seed; same seed, same events (default 0)")
    simulate.add_argument(
        "--incident", action="append", default=[], type=_simulate_type("parse_incident", "incident"),
        metavar="KIND[:TARGET][=MAGNITUDE]@OFFSET+DURATION",
        help="inject an incident, e.g. latency_spike:gateway@2m+5m (repeatable; see --list-incidents)",
    )
    simulate.add_argument("--streams-dir", default=DEFAULT_STREAMS_DIR,
                          help="stream definitions: for streams that are missing, and with --out the stream of each subject (default streams)")
    simulate.add_argument("--out", default=None, metavar="FILE",
                          help="write the events to this export file (events.ndjson[.gz], as `slo export` does) instead of NATS, "
                          "and the injected incidents to <name>.incidents.yaml beside it; --start now then ends the run now")
    simulate.add_argument("--list-incidents", action="store_true", help="describe every incident kind and exit")
    simulate.set_defaults(handler=_cmd_simulate)


def _unknown_options(parser: argparse.ArgumentParser, command: str | None, extras: list[str]) -> None:
    """Reported by the command's own parser, with its usage, and the nearest option it has: argparse
    would name neither (it reports them from the top-level parser)."""
    import difflib

    sub = _subparsers(parser).get(command or "", parser)
    known = [o for a in sub._actions for o in a.option_strings]  # noqa: SLF001
    typed = [e.split("=", 1)[0] for e in extras if e.startswith("--")]
    hints = [f"{t}: did you mean {m[0]}?" for t in typed for m in [difflib.get_close_matches(t, known, n=1)] if m]
    sub.error(f"unrecognized arguments: {' '.join(extras)}" + ("".join(f"\n  {h}" for h in hints)))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        _unknown_options(parser, args.command, extras)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        # Commands that stop cleanly on Ctrl-C say so themselves; any other one stops here, without
        # a traceback: nothing it was doing needs finishing (the live processor handles its signals).
        print(f"slo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`slo simulate --list-incidents | head`): not an error. Point stdout
        # at /dev/null so that the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
