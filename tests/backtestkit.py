"""A tiny hand-worked backtest: one latency SLI, one alert rule whose ``for`` the candidate
changes, one incident. Every expected number is worked out in the docstring of ``SCENARIO``.

Events: one ``svc.req`` per second from T0 to T0 + 299 s, ``latency_ms`` 50, except 500 in
[T0+60 s, T0+120 s) (the incident) and in [T0+200 s, T0+210 s) (a 10 s blip nobody labelled).
Resolution 10 s, rule window 10 s, no lateness: at boundary T0+t the rule reads the sub-window
[t-10 s, t), so ``p95 > 100ms`` holds at boundaries 70..120 and at 210, nowhere else.

- baseline (``for: 0s``, critical): fires at 70, resolves at 130 (the first boundary where it no
  longer holds); fires at 210, resolves at 220. Two episodes, 60 s + 10 s firing.
- candidate (``for: 30s``): pending at 70, fires at 100 (held at 70, 80, 90, 100), resolves at
  130; the blip holds at one boundary only: never fires. One episode, 30 s firing.

Diff: the first episode moves (fires 30 s later, resolves at the same time, 60 s -> 30 s of
firing); the second disappears.

Scores against the incident {service: svc, 60 s .. 120 s}, over the range T0 .. T0+300 s:
- baseline: precision 1/2 = 50 % (the blip's episode overlaps no incident), recall 1/1,
  detection 70 - 60 = 10 s, reset 130 - 120 = 10 s, pages 2 (critical), per week
  2 * 604,800 s / 300 s = 4,032.
- candidate: precision 1/1 = 100 %, recall 1/1, detection 100 - 60 = 40 s, reset 10 s, pages 1,
  per week 2,016.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from processor.replay.stored import StoredMsg, message_line

T0_MS = 1_700_000_000_000  # a multiple of 10 s
S = 1000
END_MS = T0_MS + 300 * S

CONFIG = """\
version: 1
defaults:
  allowed_lateness: 0s
  resolution: 10s
  rule_window: 10s
slis:
  svc_latency:
    service: svc
    kind: latency
    subject: svc.req
    value: latency_ms
slos:
  svc_p95:
    sli: svc_latency
    objective: p95 < 200ms
alerts:
  - name: SvcSlow
    slo: svc_p95
    expr: p95 > 100ms
    for: {for_}
    severity: critical
"""

INCIDENTS = """\
- service: svc
  start: 2023-11-14T22:14:20Z
  end: 2023-11-14T22:15:20Z
  severity: critical
"""  # T0 + 60 s .. T0 + 120 s (T0 = 2023-11-14T22:13:20Z)

STREAMS = [{"name": "SVC", "subjects": ["svc.>"]}]


def latency_at(t_s: int) -> int:
    return 500 if 60 <= t_s < 120 or 200 <= t_s < 210 else 50


def messages() -> list[StoredMsg]:
    return [StoredMsg("SVC", t + 1, T0_MS + t * S, "svc.req",
                      orjson.dumps({"ts": T0_MS + t * S, "latency_ms": latency_at(t)})) for t in range(300)]


def write_scenario(directory: Path) -> dict[str, Path]:
    """base.yaml, candidate.yaml, incidents.yaml, events.ndjson and streams/ in ``directory``."""
    paths = {"baseline": directory / "base.yaml", "candidate": directory / "candidate.yaml",
             "incidents": directory / "incidents.yaml", "events": directory / "events.ndjson",
             "streams": directory / "streams"}
    paths["baseline"].write_text(CONFIG.format(for_="0s"))
    paths["candidate"].write_text(CONFIG.format(for_="30s"))
    paths["incidents"].write_text(INCIDENTS)
    header = {"slo_export": 1, "from_ms": T0_MS, "to_ms": END_MS}
    paths["events"].write_bytes(orjson.dumps(header) + b"\n" + b"".join(message_line(m) for m in messages()))
    paths["streams"].mkdir()
    (paths["streams"] / "svc.json").write_bytes(orjson.dumps(STREAMS[0]))
    return paths
