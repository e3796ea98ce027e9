"""The README's command rows of `slo status`, `slo tail`, `slo run` and `slo validate` name every
option the parser has (credentials aside: "credential options above" / "connection options as
`slo run`'s"), and the parser takes what the README shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli import build_parser

README = (Path(__file__).parents[2] / "README.md").read_text()
CREDENTIALS = {"--user", "--password", "--token", "--creds", "--nkey-seed", "--tls-ca", "--tls-cert", "--tls-key"}


def _subparser(command: str):
    return build_parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001


def _row(command: str) -> str:
    return next(line for line in README.splitlines() if line.startswith(f"| `slo {command} "))


@pytest.mark.parametrize("command", ["status", "tail", "run", "validate"])
def test_the_readme_row_names_every_option(command):
    options = {o for a in _subparser(command)._actions for o in a.option_strings if o.startswith("--")}  # noqa: SLF001
    row = _row(command)
    missing = {o for o in options - CREDENTIALS - {"--help"} if f"[{o} " not in row and f"[{o}]" not in row
               and f" {o} " not in row and f"[{o}" not in row}
    assert set() == missing


def test_the_kinds_tail_takes_are_those_of_the_readme_row_and_of_the_client():
    from processor.client import KINDS

    kind = next(a for a in _subparser("tail")._actions if a.dest == "kind")  # noqa: SLF001
    assert list(KINDS) == list(kind.choices)
    assert "[" + "\\|".join(KINDS) + "]" in _row("tail")


def test_the_operate_section_commands_parse():
    section = README[README.index("## Operate it"):README.index("## Replay and export")]
    commands = [line.split("#")[0].split("|")[0].split() for line in section.splitlines()
                if line.startswith("./dev slo ")]
    assert 6 == len(commands)  # status, status --json, two tails, a sidecar validate, the Alertmanager validate
    for words in commands:
        build_parser().parse_args(words[2:])
