"""`slo validate` through processor.cli.main."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli import main

PLATFORM_CONFIG = Path(__file__).resolve().parents[2] / "config" / "slo.yaml"


def test_validate_accepts_the_platform_config(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["validate", str(PLATFORM_CONFIG)])

    out, err = capsys.readouterr()
    assert (0, "") == (exit_code, err)
    assert out.startswith(f"OK: {PLATFORM_CONFIG}: ")
    assert out.rstrip().endswith("alert rules")


def test_validate_prints_every_problem_as_file_line_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "version: 1\n"
        "slis:\n"
        "  a: {service: s, kind: latency, subject: x.>.y, value: v}\n"
        "alerts:\n"
        "  - name: A\n"
        "    sli: b\n"
        "    expr: p95 > 1s\n"
        "    severity: warning\n",
        encoding="utf-8",
    )

    exit_code = main(["validate", str(path)])

    out, err = capsys.readouterr()
    assert (1, "") == (exit_code, out)
    assert [
        f"{path}:3: slis.a.subject: '>' matches the rest of the subject and must be the last token, in 'x.>.y'",
        f"{path}:6: alerts[0].sli: unknown SLI 'b': defined SLIs: a",
        f"{path}: 2 problems",
    ] == err.splitlines()


def test_validate_of_a_missing_file_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.yaml"

    exit_code = main(["validate", str(path)])

    _, err = capsys.readouterr()
    assert 1 == exit_code
    assert f"{path}: config file not found" == err.splitlines()[0]


def test_validate_defaults_to_config_slo_yaml(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(PLATFORM_CONFIG.parents[1])

    exit_code = main(["validate"])

    out, _ = capsys.readouterr()
    assert (0, True) == (exit_code, out.startswith("OK: config/slo.yaml: "))


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main([])

    _, err = capsys.readouterr()
    assert (2, True) == (exit_code, "usage: slo" in err)


def test_run_accepts_the_connection_options() -> None:
    from processor.cli import build_parser

    args = build_parser().parse_args(
        ["run", "--nats-url", "nats://h:4222", "--user", "u", "--password", "p", "--tls-ca", "ca.pem",
         "--batch-size", "512"]
    )

    assert ("config/slo.yaml", "nats://h:4222", "streams", ".slo", "u", "p", None, None, "ca.pem", 512) == (
        args.config, args.nats_url, args.streams_dir, args.store_dir, args.user, args.password, args.token,
        args.creds, args.tls_ca, args.batch_size,
    )


def test_validate_reports_catalogue_problems_with_the_catalogue_files_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiers.yaml").write_text(
        "version: 1\n"
        "catalogues:\n"
        "  fast:\n"
        "    tiers:\n"
        "      page: {burn: 14.4, long: 5m, short: 1h, severity: page}\n",
        encoding="utf-8",
    )
    path = tmp_path / "slo.yaml"
    path.write_text(
        "version: 1\n"
        "burn_rate_catalogues: tiers.yaml\n"
        "slis:\n"
        "  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "slos:\n"
        "  o: {sli: a, objective: 99.9%, budget: {burn_alerts: fats}}\n",
        encoding="utf-8",
    )

    exit_code = main(["validate", str(path)])

    out, err = capsys.readouterr()
    assert (1, "") == (exit_code, out)
    assert [
        f"{path}:6: slos.o.budget.burn_alerts: unknown burn-rate catalogue 'fats': did you mean 'fast'?",
        f"{tmp_path / 'tiers.yaml'}:5: catalogues.fast.tiers.page.short: the short window (1h) must be shorter than "
        "the long window (5m): it confirms that the burn is still going on",
        f"{path}: 2 problems",
    ] == err.splitlines()


def test_validate_warns_of_an_alertmanager_secret_the_environment_lacks_and_counts_in_the_singular(
        tmp_path, capsys, monkeypatch):
    from processor.cli import main

    config = tmp_path / "am.yaml"
    config.write_text("version: 1\nslis:\n  req: {service: s, kind: ratio, subject: a.b, good: ok == true}\n"
                      "alerts:\n  - {name: Bad, sli: req, expr: bad_count > 0, severity: critical}\n"
                      "alertmanager:\n  urls: [http://127.0.0.1:9093]\n  bearer_token_env: AM_TOKEN_FOR_TEST\n")
    monkeypatch.delenv("AM_TOKEN_FOR_TEST", raising=False)
    assert 0 == main(["validate", str(config)])
    out, err = capsys.readouterr()
    assert out.strip() == f"OK: {config}: 1 SLI, 0 SLOs, 1 alert rule"
    assert ("warning: alertmanager.bearer_token_env: environment variable AM_TOKEN_FOR_TEST is not set: `slo run` "
            "with this config refuses to start until it is") in err
    monkeypatch.setenv("AM_TOKEN_FOR_TEST", "x")
    assert 0 == main(["validate", str(config)])
    assert "" == capsys.readouterr().err
