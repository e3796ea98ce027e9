"""`slo status`: every SLO's latest budget and the alerts firing now, from the SLO stream.

Budgets: the last message of each ``slo.budget.<service>.<slo>`` subject (JetStream's "last per
subject" delivery). Alerts: the transitions of the last ``ALERT_HISTORY_MS`` on ``slo.alerts.>``,
folded by fingerprint; an alert whose last transition is ``firing`` is firing. An alert that fired
longer ago and never resolved is not seen (the SLO stream itself keeps 30 days).
"""

from __future__ import annotations

__all__ = ["ALERT_HISTORY_MS", "Status", "fold_alerts", "print_rich", "read_status", "render_table", "status_json"]

from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import orjson

from processor.bus.history import read_history
from processor.ops.lines import percent, policy_facts, rate
from processor.runtime.render import policy_held, policy_text
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES, SLO_STREAM

ALERT_HISTORY_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Status:
    budgets: list[dict[str, Any]]  # the latest budget body of every SLO, by service then SLO
    firing: list[dict[str, Any]]  # the last transition of every firing alert, by service, alertname


def fold_alerts(bodies: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts whose last transition (in stream order) is ``firing``."""
    last: dict[str, dict[str, Any]] = {}
    for body in bodies:
        last[body["fingerprint"]] = body
    firing = [b for b in last.values() if b.get("status") == "firing"]
    return sorted(firing, key=lambda b: (b["labels"].get("service", ""), b["labels"].get("alertname", ""),
                                         b["labels"].get("severity", ""), b["fingerprint"]))


async def _bodies(nc: Any, **read: Any) -> list[dict[str, Any]]:
    out = []
    async for batch in read_history(nc, SLO_STREAM, **read):
        for msg in batch:
            try:
                body = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict):
                out.append(body)
    return out


async def read_status(nc: Any, now_ms: int) -> Status:
    budgets = await _bodies(nc, filter_subject=f"{OUTPUT_SUBJECT_PREFIXES['budget']}.>", last_per_subject=True)
    alerts = await _bodies(nc, filter_subject=f"{OUTPUT_SUBJECT_PREFIXES['alerts']}.>", from_ms=now_ms - ALERT_HISTORY_MS)
    budgets.sort(key=lambda b: (b.get("service", ""), b.get("slo", "")))
    return Status(budgets, fold_alerts(a for a in alerts if "fingerprint" in a and "labels" in a))


def _firing_of(status: Status, budget: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in status.firing
            if a["labels"].get("slo") == budget.get("slo") and a["labels"].get("service") == budget.get("service")]


def _alert_name(a: dict[str, Any]) -> str:
    return f"{a['labels'].get('alertname')}/{a['labels'].get('severity')}"


def status_json(status: Status) -> dict[str, Any]:
    """What ``slo status --json`` prints."""
    slos = [{
        "service": b.get("service"), "slo": b.get("slo"), "objective": b.get("objective"), "window": b.get("window"),
        "remaining": b.get("remaining"), "policy": b.get("policy"), "policyHeld": policy_held(*policy_facts(b)),
        "burnRates": b.get("burnRates", {}),
        "timeToExhaustionSeconds": b.get("timeToExhaustionSeconds"), "evaluatedAt": b.get("evaluatedAt"),
        "firing": [_alert_name(a) for a in _firing_of(status, b)],
    } for b in status.budgets]
    firing = [{"alertname": a["labels"].get("alertname"), "severity": a["labels"].get("severity"),
               "service": a["labels"].get("service"), "slo": a["labels"].get("slo"), "startsAt": a.get("startsAt"),
               "value": a.get("value"), "threshold": a.get("threshold"), "fingerprint": a["fingerprint"],
               "labels": {k: v for k, v in sorted(a["labels"].items()) if k not in _NAMED_LABELS}}
              for a in status.firing]
    return {"slos": slos, "firing": firing}


HEADERS = ("SERVICE", "SLO", "OBJECTIVE", "REMAINING", "POLICY", "BURN RATES", "FIRING")
ALERT_HEADERS = ("SERVICE", "ALERT", "SEVERITY", "SLO", "LABELS", "SINCE", "VALUE")
# An alert's labels that have columns of their own; LABELS shows the rest (its SLI, its series' labels: what
# tells apart the alerts of one rule firing for several symbols or SLIs).
_NAMED_LABELS = frozenset({"alertname", "service", "severity", "slo"})
_NAME_COLUMNS = frozenset({"SERVICE", "SLO", "ALERT"})


def _rows(status: Status) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    doc = status_json(status)
    slos = [(s["service"] or "", s["slo"] or "", f"{s['objective']:g} / {s['window']}" if s["objective"] is not None
             else "-", percent(s["remaining"]), policy_text(*policy_facts(b)),
             " ".join(f"{w}={rate(v)}" for w, v in s["burnRates"].items()) or "-", ", ".join(s["firing"]) or "-")
            for b, s in zip(status.budgets, doc["slos"], strict=True)]
    alerts = [(a["service"] or "", a["alertname"] or "", a["severity"] or "", a["slo"] or "-",
               ",".join(f"{k}={_label_value(v)}" for k, v in a["labels"].items()) or "-", a["startsAt"] or "-",
               "-" if a["value"] is None else f"{a['value']:g}") for a in doc["firing"]]
    return slos, alerts


def _label_value(value: Any) -> str:
    """A label's value as the LABELS column shows it: quoted (JSON) when it holds what separates
    the column's labels or columns (a comma, an equals sign, white space) or a quote."""
    text = str(value)
    return orjson.dumps(text).decode() if not text or any(c in text for c in ',="') or any(
        c.isspace() for c in text) else text


def _plain(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]


def render_table(status: Status) -> str:
    """Plain text: the SLOs, then the firing alerts (a blank line between)."""
    slos, alerts = _rows(status)
    lines = _plain(HEADERS, slos) if slos else ["no budget reports on slo.budget.> yet"]
    lines += ["", f"firing alerts ({len(alerts)})"]
    if alerts:
        lines += _plain(ALERT_HEADERS, alerts)
    return "\n".join(lines)


def print_rich(status: Status, file: IO[str], width: int | None = None) -> None:
    """The same two tables drawn by rich, for a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    slos, alerts = _rows(status)
    console = Console(file=file, width=width)
    for title, headers, rows in (("SLOs", HEADERS, slos), (f"firing alerts ({len(alerts)})", ALERT_HEADERS, alerts)):
        table = Table(title=title)
        for h in headers:
            # Names whole (they are what one copies into `slo tail` or a query); the rest folds.
            table.add_column(h, overflow="fold", no_wrap=h in _NAME_COLUMNS)
        for r in rows:
            table.add_row(*map(Text, r))  # as text: a label value like "[/]" is no markup
        console.print(table)
