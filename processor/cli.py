"""The ``slo`` command line: ``slo validate``, ``slo run`` (and, to come, ``slo replay`` ...).

Handlers return the process exit code; ``main`` never calls ``sys.exit`` itself so that tests can
call it directly (argparse still exits with 2 on a usage error, as every CLI does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from processor.errors import ConfigError

__all__ = ["build_parser", "main"]

DEFAULT_CONFIG = "config/slo.yaml"


def _cmd_validate(args: argparse.Namespace) -> int:
    from processor.spec.load import load_spec

    try:
        spec = load_spec(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"{args.path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    print(
        f"OK: {args.path}: {len(spec.slis)} SLIs, {len(spec.slos)} SLOs, {len(spec.alerts)} alert rules"
    )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    # Imported here so that `slo validate` needs neither nats nor the runtime.
    from processor.service import run_from_args  # type: ignore[import-not-found, unused-ignore]

    return int(run_from_args(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slo", description="Streaming SLI/SLO processor on NATS JetStream.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a config file and report every problem")
    validate.add_argument("path", nargs="?", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    validate.set_defaults(handler=_cmd_validate)

    # ---- runtime commands: `run` is wired to processor.service; `replay` and friends go here ----
    run = commands.add_parser("run", help="consume events from NATS and evaluate SLOs live")
    run.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    run.add_argument("--nats-url", default=None, help="NATS server URL; without it an embedded nats-server is started")
    run.add_argument("--streams-dir", default="streams", help="JetStream stream definitions (default streams)")
    run.add_argument("--store-dir", default=".slo", help="embedded server store and local state (default .slo)")
    run.add_argument("--user", default=None, help="NATS user")
    run.add_argument("--password", default=None, help="NATS password (prefer SLO_NATS_PASSWORD: arguments show in the process list)")
    run.add_argument("--token", default=None, help="NATS token (prefer SLO_NATS_TOKEN)")
    run.add_argument("--creds", default=None, help="NATS credentials file")
    run.add_argument("--tls-ca", default=None, help="CA certificate to verify the server")
    run.add_argument("--tls-cert", default=None, help="client certificate")
    run.add_argument("--tls-key", default=None, help="client certificate key")
    run.add_argument("--batch-size", type=int, default=1000, help="messages per pull request (default 1000)")
    run.set_defaults(handler=_cmd_run)
    # ---- end of runtime commands ----

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
