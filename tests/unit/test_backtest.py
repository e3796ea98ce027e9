"""slo backtest: scores against hand-worked incidents and alert timelines, the diff of two
timelines, the shared decode, the command's files and its bad arguments (tests/backtestkit.py
works out the engine-driven scenario)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from processor.cli import main
from processor.config.load import load_config_text
from processor.replay.backtest import Backtest, SharedDecode
from processor.replay.backtest_cli import result_of
from processor.replay.incidents import Incident, parse_incidents
from processor.replay.scoring import score, score_rule_set
from processor.replay.timeline import episodes
from processor.runtime.render import rfc3339_ms
from tests import backtestkit as kit

M = 60_000
WEEK_S = 7 * 86_400


def _alert(name: str, severity: str, start_min: int, end_min: int | None, **labels: str) -> list[dict]:
    """The transitions of one episode, as slo.alerts messages carry them."""
    all_labels = {"alertname": name, "severity": severity, **labels}
    fingerprint = "-".join(f"{k}={v}" for k, v in sorted(all_labels.items()))
    firing = {"status": "firing", "labels": all_labels, "fingerprint": fingerprint,
              "startsAt": rfc3339_ms(start_min * M), "endsAt": None}
    if end_min is None:
        return [firing]
    return [firing, firing | {"status": "resolved", "endsAt": rfc3339_ms(end_min * M)}]


HAND_CONFIG = """\
version: 1
slis:
  api_latency: {service: api, kind: latency, subject: api.req, value: latency_ms}
  db_up: {service: db, kind: ratio, subject: db.status, good: 'status == "up"'}
alerts:
  - {name: ApiLatency, sli: api_latency, expr: p95 > 100ms, severity: critical}
  - {name: ApiLatency, sli: api_latency, expr: p95 > 50ms, severity: warning}
  - {name: DbDown, sli: db_up, expr: bad_ratio > 50%, severity: page}
  - {name: DbSlow, sli: db_up, expr: bad_ratio > 90%, severity: warning}
"""

# Range: minute 0 to two weeks. Incidents: I1 api 10..20, I2 db 100..130, I3 SLO checkout_latency
# 300..310 (minutes). Episodes:
#   A ApiLatency[critical] api 12..25   detects I1
#   B ApiLatency[critical] api 50..55   detects nothing (false positive)
#   C ApiLatency[warning]  api 8..22    detects I1, already firing at its start
#   D DbDown[page]         db 103..     still firing at the end: detects I2, never resets
#   E CheckoutSlow[warning] shop, slo checkout_latency 305..312: detects I3 through its SLO
HAND_INCIDENTS = [Incident(10 * M, 20 * M, service="api"), Incident(100 * M, 130 * M, service="db"),
                  Incident(300 * M, 310 * M, slo="checkout_latency")]
HAND_ALERTS = (_alert("ApiLatency", "critical", 12, 25, service="api")
               + _alert("ApiLatency", "critical", 50, 55, service="api", instance="b")
               + _alert("ApiLatency", "warning", 8, 22, service="api")
               + _alert("DbDown", "page", 103, None, service="db")
               + _alert("CheckoutSlow", "warning", 305, 312, service="shop", slo="checkout_latency"))
RANGE = (0, 2 * WEEK_S * 1000)


def test_the_rule_set_scores_match_the_hand_worked_incidents():
    s = score(episodes(HAND_ALERTS), HAND_INCIDENTS, *RANGE)
    # 4 of 5 episodes detect an incident (B does not); all 3 incidents are detected.
    assert (5, 4, 0.8) == (s.episodes, s.true_episodes, s.precision)
    assert (3, 3, 1.0) == (s.incidents, s.detected, s.recall)
    # detection: I1 0 (C fired at 8, before 10), I2 3 min, I3 5 min: (0 + 180 + 300) / 3
    assert 160.0 == s.detection_s
    # reset: I1 25 - 20 = 5 min, I3 312 - 310 = 2 min, I2 still firing (not counted): (300 + 120) / 2
    assert 210.0 == s.reset_s
    # pages: A, B (critical), D (page) over two weeks; A and D detect an incident
    assert (3, 1.5, 2, 2 / 3) == (s.pages, s.pages_per_week, s.true_pages, s.page_precision)


def test_each_rule_is_scored_against_the_incidents_of_its_scope():
    config = load_config_text(HAND_CONFIG, "hand.yaml")
    rules = score_rule_set(config, episodes(HAND_ALERTS), HAND_INCIDENTS, *RANGE)["rules"]
    critical = rules["ApiLatency[critical]"]
    # A and B; only I1 is an api incident: detected by A at 12 (2 min), reset 25 - 20.
    assert (2, 0.5, 1, 1.0, 120.0, 300.0, 2) == (critical["episodes"], critical["precision"], critical["incidents"],
                                                 critical["recall"], critical["detection_s"], critical["reset_s"],
                                                 critical["pages"])
    warning = rules["ApiLatency[warning]"]
    assert (1.0, 0.0, 120.0, 0) == (warning["precision"], warning["detection_s"], warning["reset_s"], warning["pages"])
    db = rules["DbDown[page]"]
    assert (1.0, 1.0, 180.0, None) == (db["precision"], db["recall"], db["detection_s"], db["reset_s"])
    # DbSlow never fired: no precision, the db incident missed.
    slow = rules["DbSlow[warning]"]
    assert (0, None, 1, 0, 0.0, None) == (slow["episodes"], slow["precision"], slow["incidents"], slow["recall"],
                                          slow["recall"], slow["detection_s"])
    # A rule that only the alerts name (not in this config) takes its scope from their labels.
    assert (1, 1, 1.0) == (rules["CheckoutSlow[warning]"]["incidents"], rules["CheckoutSlow[warning]"]["detected"],
                           rules["CheckoutSlow[warning]"]["precision"])


def _run_scenario() -> Backtest:
    base = load_config_text(kit.CONFIG.format(for_="0s"), "base.yaml")
    cand = load_config_text(kit.CONFIG.format(for_="30s"), "candidate.yaml")
    run = Backtest(base, cand, kit.STREAMS)
    msgs = kit.messages()
    for i in range(0, len(msgs), 7):  # batches of 7: the timelines must not depend on batching
        run.feed("SVC", msgs[i:i + 7])
    run.finish()
    return run


def test_the_engines_timelines_and_their_diff_match_the_hand_worked_scenario():
    run = _run_scenario()
    result = result_of(run, parse_incidents(kit.INCIDENTS, "inc.yaml"), (kit.T0_MS, kit.END_MS))
    spans = [[((e.start_ms - kit.T0_MS) // 1000, None if e.end_ms is None else (e.end_ms - kit.T0_MS) // 1000)
              for e in eps] for eps in (result.baseline, result.candidate)]
    assert [[(70, 130), (210, 220)], [(100, 130)]] == spans
    (diff,) = result.diffs
    moved, gone = diff.changes
    assert ("moves", 30.0, 0.0, 60.0, 30.0) == (moved["change"], moved["fires_later_s"], moved["resolves_later_s"],
                                                moved["baseline"]["firing_s"], moved["candidate"]["firing_s"])
    assert ("disappears", None) == (gone["change"], gone["candidate"])
    assert (70_000, 30_000) == (diff.baseline_firing_ms, diff.candidate_firing_ms)
    base, cand = result.scores["baseline"]["set"], result.scores["candidate"]["set"]
    assert (0.5, 1.0, 10.0, 10.0, 2, 4032.0) == (base["precision"], base["recall"], base["detection_s"],
                                                 base["reset_s"], base["pages"], base["pages_per_week"])
    assert (1.0, 1.0, 40.0, 10.0, 1, 2016.0) == (cand["precision"], cand["recall"], cand["detection_s"],
                                                 cand["reset_s"], cand["pages"], cand["pages_per_week"])


def test_sharing_the_decode_changes_nothing_and_decodes_each_message_once():
    shared = _run_scenario()
    base = load_config_text(kit.CONFIG.format(for_="0s"), "base.yaml")
    cand = load_config_text(kit.CONFIG.format(for_="30s"), "candidate.yaml")
    alone = Backtest(base, cand, kit.STREAMS, share_decode=False)
    msgs = kit.messages()
    alone.feed("SVC", msgs)
    alone.finish()
    for a, b in zip(shared.sides, alone.sides):
        assert (a.alerts, a.budgets, a.slis) == (b.alerts, b.budgets, b.slis)
    assert 300 == shared.decode.decoded  # type: ignore[union-attr]


def test_the_shared_decode_hands_each_engine_its_own_payload_and_the_same_errors():
    decode = SharedDecode()
    data = b'{"a": {"b": 1}}'
    first, second = decode(data), decode(data)
    first["added"] = 1
    assert {"a": {"b": 1}} == second and 1 == decode.decoded
    for _ in range(2):
        with pytest.raises(orjson.JSONDecodeError):
            decode(b"not json")
    assert [1] == decode(b"[1]")


def test_the_command_writes_the_diff_and_scores_it_prints(tmp_path: Path, capsys):
    p = kit.write_scenario(tmp_path)
    code = main(["backtest", "--baseline", str(p["baseline"]), "--candidate", str(p["candidate"]),
                 "--input", str(p["events"]), "--incidents", str(p["incidents"]), "--out", str(tmp_path / "out"),
                 "--streams-dir", str(p["streams"])])
    out = capsys.readouterr().out
    assert 0 == code
    assert "SvcSlow[critical]" in out and "moves" in out and "disappears" in out and "+30s" in out
    scores = orjson.loads((tmp_path / "out" / "scores.json").read_bytes())
    assert (0.5, 1.0) == (scores["baseline"]["set"]["precision"], scores["candidate"]["set"]["precision"])
    diff = orjson.loads((tmp_path / "out" / "diff.json").read_bytes())
    assert ["moves", "disappears"] == [c["change"] for c in diff["diff"][0]["changes"]]
    assert 4 == len((tmp_path / "out" / "baseline" / "alerts.ndjson").read_text().splitlines())


@pytest.mark.parametrize(("change", "expected"), [
    ({"baseline": "missing.yaml"}, "slo backtest: --baseline missing.yaml: no such file"),
    ({"candidate": "broken"}, "slo backtest: --candidate {candidate} does not validate: {candidate}:"),
    ({"from": "2026-01-05T15:00:00Z", "to": "2026-01-05T14:00:00Z"}, "slo backtest: --to 2026-01-05T14:00:00Z is not after"),
    ({"incidents": "broken"}, "slo backtest: --incidents: {incidents}:3: [0].end: is not after start"),
    ({"incidents": "misspelt"}, "slo backtest: --incidents: {incidents}:1: [0].service: no service 'svx' in the configs: "
                                "did you mean 'svc'?"),
    ({"input": "truncated"}, "slo backtest: {events}:"),
])
def test_a_bad_argument_is_one_line_and_exit_1(tmp_path: Path, capsys, change, expected):
    p = kit.write_scenario(tmp_path)
    if change.get("candidate") == "broken":
        p["candidate"].write_text(kit.CONFIG.format(for_="soon"))
    if change.get("incidents") == "broken":
        p["incidents"].write_text("- service: svc\n  start: 2026-01-05T14:00:00Z\n  end: 2026-01-05T13:00:00Z\n")
    if change.get("incidents") == "misspelt":
        p["incidents"].write_text("- service: svx\n  start: 2026-01-05T14:00:00Z\n  end: 2026-01-05T14:10:00Z\n")
    if change.get("input") == "truncated":
        p["events"].write_bytes(p["events"].read_bytes()[:-20])
    args = ["backtest", "--baseline", change.get("baseline", str(p["baseline"])), "--candidate", str(p["candidate"]),
            "--input", str(p["events"]), "--incidents", str(p["incidents"]), "--streams-dir", str(p["streams"])]
    if "from" in change:
        args += ["--from", change["from"], "--to", change["to"]]
    assert 1 == main(args)
    err = capsys.readouterr().err.strip()
    assert 1 == len(err.splitlines()), err
    assert err.startswith(expected.format(**{k: str(v) for k, v in p.items()})), err


def test_an_incidents_file_names_every_problem_with_its_line():
    text = "- service: svc\n  start: yesterday\n  end: 2026-01-05T13:00:00Z\n- start: 2026-01-05T13:00:00Z\n  end: 2026-01-05T14:00:00Z\n  colour: red\n"
    with pytest.raises(Exception) as info:
        parse_incidents(text, "inc.yaml")
    assert [
        "inc.yaml:2: [0].start: expected an RFC 3339 time with a zone (2026-01-05T14:00:00Z) or epoch ms, got 'yesterday'",
        "inc.yaml:6: [1].colour: unknown key; an incident has service, slo, start, end, severity, description",
        "inc.yaml:4: [1]: name the service or the slo the incident affected",
    ] == [str(p) for p in info.value.problems]


def test_an_incident_of_a_service_or_slo_the_configs_do_not_have_is_a_problem_with_a_hint():
    text = ("- service: api-gatway\n  start: 2026-01-05T13:00:00Z\n  end: 2026-01-05T14:00:00Z\n"
            "- slo: nothing_like_it\n  start: 2026-01-05T13:00:00Z\n  end: 2026-01-05T14:00:00Z\n"
            "- service: api-gateway\n  slo: gateway_availability\n  start: 2026-01-05T13:00:00Z\n  end: 2026-01-05T14:00:00Z\n")
    with pytest.raises(Exception) as info:
        parse_incidents(text, "inc.yaml", services={"api-gateway", "market-data"}, slos={"gateway_availability"})
    assert [
        "inc.yaml:1: [0].service: no service 'api-gatway' in the configs: did you mean 'api-gateway'?",
        "inc.yaml:4: [1].slo: no slo 'nothing_like_it' in the configs: the configs have: gateway_availability",
    ] == [str(p) for p in info.value.problems]
    assert 3 == len(parse_incidents(text, "inc.yaml"))  # without the configs' names, nothing to check against


def _options(command: str) -> set[str]:
    from processor.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == command)[1]  # noqa: SLF001
    return {o for action in sub._actions for o in action.option_strings if o.startswith("--")}  # noqa: SLF001


def test_the_readme_row_of_backtest_names_every_option_but_the_connection_ones():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `slo backtest"))
    connection = _options("replay") - {"--from", "--to", "--streams", "--input", "--out", "--publish-prefix", "--config"}
    assert "connection options as `slo run`'s" in row
    assert set() == {o for o in _options("backtest") - connection - {"--help"} if f"{o} " not in row and f"{o}]" not in row}
    assert "| `--out FILE` |" in readme and "[--out FILE]` |" in readme  # simulate's option table and row


def test_the_shipped_candidate_is_the_catalogue_with_one_rule_changed():
    from processor.config.load import load_config

    root = Path(__file__).parents[2]
    base, cand = load_config(root / "config/slo.yaml"), load_config(root / "examples/candidate.yaml")
    assert (base.slis, base.slos, len(base.alerts)) == (cand.slis, cand.slos, len(cand.alerts))
    ((before, after),) = [(a, b) for a, b in zip(base.alerts, cand.alerts) if a != b]
    assert ("GatewayLatencyP95High", "warning", 300_000) == (before.name, before.severity, before.for_ms)
    assert before.model_copy(update={"for_ms": 120_000}) == after


def test_a_long_series_is_thinned_for_the_chart_but_keeps_its_spike():
    from processor.runtime.charts import thinned as _thinned

    points = [(t, 900.0 if t == 6_543 else 50.0) for t in range(10_080)]
    thinned = _thinned(points, 1000)
    assert len(thinned) <= 1000 and (6_543, 900.0) in thinned
    assert sorted(thinned) == thinned and points[:10] == list(_thinned(points[:10], 1000))


def test_the_diff_pairs_overlapping_episodes_of_a_series_and_names_the_rest():
    from processor.replay.timeline import diff_timelines

    # one series; minutes. baseline: 10..20, 40..50, 70..(open); candidate: 10..20, 45..48, 60..65, 72..80
    base = episodes(_alert("R", "page", 10, 20) + _alert("R", "page", 40, 50) + _alert("R", "page", 70, None))
    cand = episodes(_alert("R", "page", 10, 20) + _alert("R", "page", 45, 48) + _alert("R", "page", 60, 65)
                    + _alert("R", "page", 72, 80))
    (d,) = diff_timelines(base, cand, 100 * M)
    assert [("same", 0.0, 0.0), ("moves", 300.0, -120.0), ("appears", None, None), ("moves", 120.0, None)] == [
        (c["change"], c.get("fires_later_s"), c.get("resolves_later_s")) for c in d.changes]
    # firing: baseline 10 + 10 + 30 (open until the range's end at 100) min; candidate 10 + 3 + 5 + 8
    assert (50 * M, 26 * M) == (d.baseline_firing_ms, d.candidate_firing_ms)
    assert "R[page]" == d.rule
