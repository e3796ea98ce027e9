"""`slo run --http`: the address it takes, its README row and the metric families README lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.cli import build_parser
from processor.config.load import load_config
from processor.runtime.http import parse_address
from processor.runtime.telemetry import Telemetry

ROOT = Path(__file__).parents[2]
CREDENTIALS = {"--user", "--password", "--token", "--creds", "--nkey-seed", "--tls-ca", "--tls-cert", "--tls-key"}


@pytest.mark.parametrize(("text", "address"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    ("9464", ("127.0.0.1", 9464)),
    ("[::1]:9464", ("::1", 9464)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
])
def test_http_addresses(text, address):
    assert address == build_parser().parse_args(["run", "--http", text]).http


@pytest.mark.parametrize("text", ["", "host:", ":9464", "127.0.0.1:http", "127.0.0.1:70000"])
def test_bad_http_addresses_are_refused(text):
    with pytest.raises(ValueError):
        parse_address(text)


def test_http_is_off_unless_asked_for():
    assert None is build_parser().parse_args(["run"]).http


def _options(command: str) -> set[str]:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # noqa: SLF001
    return {o for action in sub._actions for o in action.option_strings if o.startswith("--")}  # noqa: SLF001


def test_the_readme_row_of_run_names_every_option_but_the_credential_ones():
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `slo run"))
    assert set() == {o for o in _options("run") - CREDENTIALS - {"--help"} if f"{o} " not in row and f"{o}]" not in row}


def test_the_readme_lists_every_metric_family_the_listener_serves():
    telemetry = Telemetry(load_config(ROOT / "config" / "slo.yaml"))
    served = {m.name for m in telemetry.metrics.registry.collect() if m.name.startswith("slo_")}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Operate it"):readme.index("## Replay and export")]
    # prometheus-client names a counter's family without its _total suffix.
    listed = {n.removesuffix("_total") for n in re.findall(r"`(slo_[a-z_]+)`", section)}
    assert served == listed
