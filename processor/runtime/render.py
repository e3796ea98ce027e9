"""Engine outputs -> bus messages (subjects, JSON payloads, headers, dedupe ids). Pure.

This is the edge where event-time integers become RFC 3339 strings: the engine itself only knows
epoch milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import orjson

from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES

from processor.engine.outputs import AlertAction, AlertTransition, BudgetReport, PolicyAction, Rejection, SliReport
from processor.config.model import Defaults
from processor.config.parse import format_duration

__all__ = [
    "action_message",
    "alert_annotations",
    "alert_message",
    "budget_message",
    "clock_message",
    "deadletter_message",
    "policy_held",
    "policy_text",
    "rfc3339_ms",
    "runbook_anchor",
    "runbook_url",
    "sli_message",
    "subject_token",
    "template_values",
]

_PREFIX = OUTPUT_SUBJECT_PREFIXES
_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_NOT_IN_ANCHOR = re.compile(r"[^\w\- ]")
RUNBOOK_BASE_URL = Defaults().runbook_base_url


def subject_token(text: str) -> str:
    """A value made safe to be one NATS subject token (no dots, spaces or wildcards)."""
    return _UNSAFE_TOKEN.sub("_", text) or "_"


def rfc3339_ms(ts_ms: int) -> str:
    """Epoch ms -> ``2026-11-27T12:00:00.000Z``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


class _TemplateContext(dict):
    def __missing__(self, key: str) -> str:
        # An unknown placeholder is left as written rather than failing the alert.
        return "{" + key + "}"


def template_values(alert: AlertTransition) -> dict[str, object]:
    """What each of TEMPLATE_PLACEHOLDERS stands for in this alert's texts."""
    labels = alert.label_map
    return {
        "value": float("nan") if alert.value is None else alert.value,
        "threshold": alert.threshold,
        "expr": alert.expr,
        "service": labels.get("service", ""),
        "sli": labels.get("sli", ""),
        "slo": labels.get("slo", ""),
        "window": alert.window,
        "for": format_duration(alert.for_ms),
        "labels": labels,
    }


def alert_annotations(alert: AlertTransition) -> dict[str, str]:
    """The rule's summary and description with ``{placeholder}`` and ``{label}`` filled in."""
    ctx = _TemplateContext(alert.label_map)
    ctx.update(template_values(alert))
    annotations = {}
    for key, template in alert.templates:
        try:
            annotations[key] = template.format_map(ctx)
        except (KeyError, ValueError, IndexError, AttributeError, TypeError):
            annotations[key] = template  # a malformed template must not cost us the alert
    return annotations


def runbook_anchor(alertname: str) -> str:
    """The anchor GitHub gives the heading ``## <alertname>`` of docs/runbooks.md: lower case,
    punctuation other than ``-`` and ``_`` dropped, spaces as ``-``."""
    return _NOT_IN_ANCHOR.sub("", alertname.strip().lower()).replace(" ", "-")


def runbook_url(alertname: str, base_url: str = RUNBOOK_BASE_URL) -> str:
    """Where the alert's runbook section is: ``defaults.runbook_base_url`` and its anchor."""
    return f"{base_url}#{runbook_anchor(alertname)}"


def alert_message(alert: AlertTransition, runbook_base_url: str = RUNBOOK_BASE_URL) -> tuple[str, bytes, str]:
    """(subject, payload, Nats-Msg-Id) of one alert transition, shaped as an Alertmanager alert.

    Every alert, configured or built in, gets its ``runbook_url`` here rather than from the rule's
    templates: no rule can forget it, and the base URL is the deployment's, not the rule's."""
    labels = alert.label_map
    annotations = alert_annotations(alert)
    annotations["runbook_url"] = runbook_url(labels["alertname"], runbook_base_url)
    body = {
        "status": alert.status,
        "labels": labels,
        "annotations": annotations,
        "activeAt": rfc3339_ms(alert.active_at_ms),
        "startsAt": rfc3339_ms(alert.starts_at_ms),
        "endsAt": None if alert.ends_at_ms is None else rfc3339_ms(alert.ends_at_ms),
        "fingerprint": alert.fingerprint,
        "value": alert.value,
        "threshold": alert.threshold,
        "expr": alert.expr,
        "window": alert.window,
        "for": format_duration(alert.for_ms),
        "evaluatedAt": rfc3339_ms(alert.evaluated_at_ms),
    }
    subject = f"{_PREFIX['alerts']}.{subject_token(labels['severity'])}.{subject_token(labels['service'])}"
    return subject, orjson.dumps(body), alert.transition_id


def deadletter_message(
    rejection: Rejection, subject: str, data: bytes, stream: str, stream_seq: int | None,
    max_payload: int | None = None,
) -> tuple[str, bytes, dict[str, str], str]:
    """(subject, raw payload, headers, Nats-Msg-Id) of a dead-lettered message.

    The payload is the original bytes, untouched, so it can be fixed and republished; the headers
    say where it came from and why it was rejected. One exception: the server counts headers and
    payload against its ``max_payload`` (and closes the connection of a client that exceeds it),
    so a message already at the limit cannot carry headers too. Its body is cut to fit and
    ``Slo-Original-Size`` gives the size it had.
    """
    headers = {
        "Slo-Original-Subject": subject,
        "Slo-Reason": rejection.reason,
        "Slo-Detail": rejection.detail[:512],
        "Slo-Stream": stream,
    }
    if rejection.slis:
        # The SLIs that could not use it; the SLIs of its subject not named here did use it.
        headers["Slo-Rejected-Slis"] = ",".join(rejection.slis)
    if stream_seq is not None:
        headers["Slo-Stream-Seq"] = str(stream_seq)
        msg_id = f"dl-{stream}-{stream_seq}"
    else:
        digest = hashlib.sha256(subject.encode() + b"\0" + data).hexdigest()[:24]
        msg_id = f"dl-{stream}-{digest}"
    if max_payload is not None:
        room = max_payload - _header_bytes({**headers, "Nats-Msg-Id": msg_id, "Slo-Original-Size": str(len(data))})
        if len(data) > room:
            headers["Slo-Original-Size"] = str(len(data))
            data = data[: max(room, 0)]
    return f"{_PREFIX['deadletter']}.{rejection.reason}", data, headers, msg_id


def _header_bytes(headers: dict[str, str]) -> int:
    # As the client writes them: "NATS/1.0\r\n", "Key: value\r\n" each, then "\r\n".
    return 12 + sum(len(k) + len(v.encode()) + 4 for k, v in headers.items())


def budget_message(report: BudgetReport) -> tuple[str, bytes, str]:
    """(subject, payload, Nats-Msg-Id) of an error-budget state on ``slo.budget.<service>.<slo>``."""
    body = {
        "slo": report.slo,
        "service": report.service,
        "sli": report.sli,
        "reason": report.reason,
        "evaluatedAt": rfc3339_ms(report.evaluated_at_ms),
        "method": report.method,
        "objective": report.objective,
        "window": report.window,
        "periodStart": rfc3339_ms(report.period_start_ms),
        "periodEnd": rfc3339_ms(report.period_end_ms),
        "good": report.good,
        "total": report.total,
        "bad": report.total - report.good,
        "allowedBad": report.allowed_bad,
        "consumed": report.consumed,
        "remaining": report.remaining,
        "remainingBad": report.remaining_bad,
        "burnRates": {format_duration(w): b for w, b in report.burn_rates},
        "timeToExhaustionSeconds": None
        if report.time_to_exhaustion_ms is None
        else report.time_to_exhaustion_ms / 1000,
        "policy": report.policy,
        "previousPolicy": report.previous_policy,
        "policyMinEvents": report.policy_min_events,
    }
    subject = f"{_PREFIX['budget']}.{subject_token(report.service)}.{subject_token(report.slo)}"
    msg_id = f"budget-{report.slo}-{report.evaluated_at_ms}-{report.reason}"
    return subject, orjson.dumps(body), msg_id


def policy_held(policy: str | None, total: object, min_events: object, method: object) -> str | None:
    """Why a budget's policy has not moved, when its window holds fewer events (or slices) than
    ``policy_min_events`` (the report's ``policyMinEvents``): a spent budget beside a ``normal``
    policy is then no contradiction. For `slo status`, `slo tail` and the SLO page."""
    if policy is None or not isinstance(total, int) or not isinstance(min_events, int) or total >= min_events:
        return None
    unit = "slices" if method == "time_slices" else "events"
    return f"held: {total} of the {min_events} {unit} it needs"


def policy_text(policy: str | None, total: object, min_events: object, method: object) -> str:
    """The policy tier as `slo status`, `slo tail` and the SLO page show it: with ``policy_held``
    when there is a reason, ``-`` without a policy."""
    held = policy_held(policy, total, min_events, method)
    return f"{policy} ({held})" if held else (policy or "-")


def action_message(action: PolicyAction | AlertAction) -> tuple[str, bytes, str]:
    """(subject, payload, Nats-Msg-Id) of an action on ``slo.actions.<service>``: a budget-policy
    tier change, or an alert rule with an ``action`` that fired (cost controls, scaling)."""
    if isinstance(action, AlertAction):
        labels = dict(action.labels)
        body = {
            "source": "alert",
            "service": action.service,
            "alertname": action.alertname,
            "action": action.action,
            "labels": labels,
            "fingerprint": action.fingerprint,
            "value": action.value,
            "evaluatedAt": rfc3339_ms(action.evaluated_at_ms),
        }
        msg_id = f"action-{action.fingerprint}-{action.evaluated_at_ms}"
    else:
        body = {
            "source": "budget_policy",
            "slo": action.slo,
            "service": action.service,
            "evaluatedAt": rfc3339_ms(action.evaluated_at_ms),
            "policy": action.policy,
            "previousPolicy": action.previous_policy,
            "action": action.action,
            "remaining": action.remaining,
        }
        msg_id = f"action-{action.slo}-{action.evaluated_at_ms}-{action.policy}"
    return f"{_PREFIX['actions']}.{subject_token(action.service)}", orjson.dumps(body), msg_id


def clock_message(stream: str, closed_through_ms: int, after_seq: int,
                  partition: str | None = None) -> tuple[str, bytes, str]:
    """(subject, payload, Nats-Msg-Id) of a time move on ``slo.clock.<stream>``: after applying the
    stream up to sequence ``after_seq``, the idle clock closed every sub-window through
    ``closed_through_ms`` without an event. A replay does the same at the same point.

    ``partition``: the tag of a `slo run --partition` instance (``p0of2``, Partition.tag). Each
    partition's idle clock moves its own engine's time at its own sequences, so its moves go on
    ``slo.clock.<stream>.<tag>`` under ids naming it: two partitions' moves at the same boundary
    would otherwise share an id and the SLO stream would keep one of them. Unpartitioned moves
    keep their subject and id."""
    body: dict = {
        "stream": stream,
        "afterSeq": after_seq,
        "closedThroughMs": closed_through_ms,
        "closedThrough": rfc3339_ms(closed_through_ms),
    }
    subject, msg_id = f"{_PREFIX['clock']}.{subject_token(stream)}", f"clock-{stream}-{closed_through_ms}"
    if partition is not None:
        body["partition"] = partition
        subject, msg_id = f"{subject}.{subject_token(partition)}", f"clock-{stream}-{partition}-{closed_through_ms}"
    return subject, orjson.dumps(body), msg_id


def sli_message(report: SliReport) -> tuple[str, bytes, str]:
    """(subject, payload, Nats-Msg-Id) of periodic SLI values on ``slo.sli.<service>.<sli>``."""
    labels = dict(report.labels)
    body = {
        "sli": report.sli,
        "service": report.service,
        "kind": report.kind,
        "labels": labels,
        "evaluatedAt": rfc3339_ms(report.evaluated_at_ms),
        "window": format_duration(report.window_ms),
        "values": dict(report.values),
    }
    series = hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
    subject = f"{_PREFIX['sli']}.{subject_token(report.service)}.{subject_token(report.sli)}"
    return subject, orjson.dumps(body), f"sli-{report.sli}-{series}-{report.evaluated_at_ms}"
