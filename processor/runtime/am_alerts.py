"""Alert transitions -> Alertmanager v2 alerts, and the set of firing alerts the sender re-sends.

Pure (no I/O, the wall clock is an argument): ``runtime/alertmanager.py`` does the sending.

What Prometheus does, and so this: a firing alert is sent with an ``endsAt`` a few resend intervals
ahead (``ends_at_ms`` of :meth:`FiringSet.due`) and re-sent every interval, so that Alertmanager
resolves it by itself if the processor dies; a resolved alert is sent once with the ``endsAt`` the
engine gave it (event time).

Escalation (PLATFORM-SLOS.md: a warning escalates after 1 h): a firing alert of an escalated
severity whose ``startsAt`` is ``escalate_after_ms`` or more before the wall clock is also sent as
a copy with the label ``escalated="true"`` (its own alert in Alertmanager, routed to PagerDuty),
re-sent and resolved with the original. See docs/alertmanager.md for why the sender decides it.
"""

from __future__ import annotations

__all__ = ["ESCALATED_LABEL", "ENDS_AT_INTERVALS", "FiringSet", "am_alert", "generator_url"]

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from processor.engine.outputs import AlertTransition
from processor.runtime.render import RUNBOOK_BASE_URL, alert_annotations, rfc3339_ms, runbook_url

ESCALATED_LABEL = "escalated"
# A firing alert's endsAt: this many resend intervals after it was sent (Prometheus uses 4).
ENDS_AT_INTERVALS = 4


def generator_url(base_url: str | None, labels: dict[str, str]) -> str | None:
    """The built-in SLO page of the alert's SLO (``<base>/slo/<slo>``), or the page's list when the
    alert belongs to no SLO; None without a base URL."""
    if not base_url:
        return None
    slo = labels.get("slo")
    return f"{base_url}/slo/{quote(slo, safe='')}" if slo else f"{base_url}/"


def am_alert(alert: AlertTransition, runbook_base_url: str = RUNBOOK_BASE_URL,
             generator_base_url: str | None = None) -> dict:
    """The v2 API's alert (``postableAlert``) of a transition, without the ``endsAt`` of a firing
    one (set when it is sent)."""
    labels = alert.label_map
    annotations = alert_annotations(alert)
    annotations["runbook_url"] = runbook_url(labels["alertname"], runbook_base_url)
    body: dict = {"labels": labels, "annotations": annotations, "startsAt": rfc3339_ms(alert.starts_at_ms)}
    url = generator_url(generator_base_url, labels)
    if url is not None:
        body["generatorURL"] = url
    if alert.status == "resolved" and alert.ends_at_ms is not None:
        body["endsAt"] = rfc3339_ms(alert.ends_at_ms)
    return body


@dataclass(slots=True)
class _Firing:
    body: dict
    starts_at_ms: int
    escalated: bool = False


def _escalated(body: dict, starts_at_ms: int) -> dict:
    copy = {**body, "labels": {**body["labels"], ESCALATED_LABEL: "true"}}
    copy["startsAt"] = rfc3339_ms(starts_at_ms)
    return copy


@dataclass
class FiringSet:
    """The alerts firing now, by fingerprint: what the sender re-sends every interval."""

    escalate_after_ms: int = 3_600_000
    escalate_severities: tuple[str, ...] = ("warning",)
    firing: dict[str, _Firing] = field(default_factory=dict)

    def apply(self, alert: AlertTransition, body: dict) -> list[dict]:
        """Record a transition; the alerts to send now (a firing one without its ``endsAt``)."""
        if alert.status == "firing":
            self.firing[alert.fingerprint] = _Firing(body, alert.starts_at_ms)
            return [body]
        was = self.firing.pop(alert.fingerprint, None)
        # Escalated, or would have been by its end (a restart in between: not re-sent yet).
        if was is None or not (was.escalated or (self._escalates(was) and (alert.ends_at_ms or 0) >= self._escalates_at(was))):
            return [body]
        # The escalated copy ends with the original.
        copy = _escalated(body, self._escalates_at(was))
        copy["endsAt"] = body["endsAt"]
        return [body, copy]

    def restore(self, alerts: Iterable[tuple[AlertTransition, dict]]) -> None:
        """The firing set after a restart, from the engines' firing rules: nothing is sent until
        the next resend, which also re-decides the escalations."""
        for alert, body in alerts:
            self.firing[alert.fingerprint] = _Firing(body, alert.starts_at_ms)

    def _escalates_at(self, f: _Firing) -> int:
        return f.starts_at_ms + self.escalate_after_ms

    def _escalates(self, f: _Firing) -> bool:
        return f.body["labels"].get("severity") in self.escalate_severities

    def due(self, now_ms: int, ends_at_ms: int) -> list[dict]:
        """Every firing alert with ``endsAt`` = ``ends_at_ms``, and the escalated copy of each
        that has fired ``escalate_after_ms`` by ``now_ms`` (wall clock)."""
        ends_at = rfc3339_ms(ends_at_ms)
        out = []
        for f in self.firing.values():
            out.append({**f.body, "endsAt": ends_at})
            if self._escalates(f) and now_ms >= self._escalates_at(f):
                f.escalated = True
                out.append({**_escalated(f.body, self._escalates_at(f)), "endsAt": ends_at})
        return out

    def __len__(self) -> int:
        return len(self.firing)
