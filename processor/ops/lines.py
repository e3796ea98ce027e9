"""One readable line per output message, as `slo tail` prints them."""

from __future__ import annotations

__all__ = ["format_line", "percent", "policy_facts", "rate"]

from typing import Any

from processor.client import Output
from processor.runtime.render import policy_text


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f}%"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _number(value: Any) -> str:
    if value is None:
        return "-"  # a stat with no events to take it from (JSON null), as slo status shows it
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _alert(b: dict[str, Any]) -> str:
    labels = b.get("labels", {})
    when = b.get("endsAt") if b.get("status") == "resolved" else b.get("startsAt")
    extra = " ".join(f"{k}={v}" for k, v in sorted(labels.items())
                     if k not in ("alertname", "service", "severity"))
    return (f"{when} {b.get('status', '').upper():8} {labels.get('severity', '')} {labels.get('service', '')} "
            f"{labels.get('alertname', '')} value={_number(b.get('value'))} threshold={_number(b.get('threshold'))}"
            + (f" {extra}" if extra else ""))


def policy_facts(budget: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """The arguments of ``render.policy_held`` and ``render.policy_text``, from a budget report as
    published: its policy, total, policyMinEvents and method."""
    return budget.get("policy"), budget.get("total"), budget.get("policyMinEvents"), budget.get("method")


def _budget(b: dict[str, Any]) -> str:
    burns = " ".join(f"{w}={rate(v)}" for w, v in b.get("burnRates", {}).items())
    return (f"{b.get('evaluatedAt')} BUDGET   {b.get('service')} {b.get('slo')} remaining={percent(b.get('remaining'))} "
            f"policy={policy_text(*policy_facts(b))} burn {burns}".rstrip())


def _sli(b: dict[str, Any]) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(b.get("labels", {}).items()))
    values = " ".join(f"{k}={_number(v)}" for k, v in b.get("values", {}).items())
    return f"{b.get('evaluatedAt')} SLI      {b.get('service')} {b.get('sli')}" + (f"{{{labels}}}" if labels else "") + f" {values}"


def _action(b: dict[str, Any]) -> str:
    what = b.get("alertname") if b.get("source") == "alert" else f"{b.get('slo')} policy={b.get('policy')}"
    return f"{b.get('evaluatedAt')} ACTION   {b.get('service')} {what}: {b.get('action')}"


def format_line(out: Output) -> str:
    """The message in one line; a dead letter by its headers (its payload is the raw input)."""
    if out.kind == "deadletter":
        h = out.headers
        return (f"DEADLETTER {h.get('Slo-Reason', out.subject.rsplit('.', 1)[-1])} "
                f"{h.get('Slo-Original-Subject', '?')} stream={h.get('Slo-Stream', '?')} "
                f"seq={h.get('Slo-Stream-Seq', '?')}: {h.get('Slo-Detail', '')}")
    b = out.body
    if b is None:
        return f"{out.subject} {out.data[:200]!r}"
    format_kind = {"alerts": _alert, "budget": _budget, "sli": _sli, "actions": _action}.get(out.kind)
    if format_kind is None:
        return f"{out.subject} {out.data.decode(errors='replace')}"
    return format_kind(b)
