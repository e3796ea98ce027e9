"""Sources of the AI stream: decisions and their outcomes, provider status (its heartbeats are
``shapes.heartbeat``)."""

from __future__ import annotations

__all__ = ["decisions", "provider_status"]

from collections.abc import Iterator
from typing import NamedTuple

from processor.simulate.platform import AI_PROVIDERS, DECISIONS_PER_S
from processor.simulate.sources.run import Raw, Run, lognormal, z
from processor.simulate.sources.shapes import flow, status_source

_AI_MODELS = {"openai": "gpt-4o", "groq": "mixtral-8x7b", "together": "llama-3-70b"}
# ~80 tokens an uncached decision: 8,640 decisions a day, 70 % uncached, ~480,000 tokens a day, the
# document's Capacity Planning baseline of 500,000 (its 80 %-of-headroom alert is at 800,000). The
# prices make the day cost the same ~$13 as ever.
_AI_TOKENS_MEDIAN = 80.0
_AI_USD_PER_TOKEN = {"openai": 2.625e-5, "groq": 2.25e-6, "together": 6.75e-6}
_DECISION_ACCURACY = 0.7
_DECISION_CACHED = 0.3
_OUTCOME_DELAY_MS = 60_000


class _DecisionDraws(NamedTuple):
    """The draws of one decision and its outcome, in the order they are drawn."""

    z_latency: float
    u_cached: float
    z_tokens: float
    u_fallback: float
    u_fault: float
    u_correct: float
    u_delay: float


def _route(run: Run, ts: int, skip_primary: bool) -> str | None:
    """The first model in the fallback order that is up (after the primary, if skipped)."""
    for i, provider in enumerate(AI_PROVIDERS):
        if (i > 0 or not skip_primary) and run.incidents.down("provider_down", provider, ts) is None:
            return provider
    return None


def decisions(run: Run, until_ms: int) -> Iterator[Raw]:
    def flows() -> Iterator[tuple[int, list[Raw]]]:
        rng = run.rng("ai.decision")
        for n, ts in enumerate(run.arrivals(rng, DECISIONS_PER_S, until_ms)):
            draws = _DecisionDraws(*(rng.random() for _ in range(len(_DecisionDraws._fields))))
            yield ts, _decision(run, n, ts, draws)

    return flow(flows(), until_ms)


def _decision(run: Run, n: int, ts: int, d: _DecisionDraws) -> list[Raw]:
    incidents = run.incidents
    decision_id = run.id("dec", n)
    cached = d.u_cached < _DECISION_CACHED
    ok = d.u_fault >= (incidents.level("outage", ts, "ai") or 0.0)
    provider: str | None = AI_PROVIDERS[0]
    fallback = primary_failed = False
    tokens, cost = 0, 0.0
    if cached:
        latency = lognormal(40.0, 0.3, z(d.z_latency))
    else:
        latency = lognormal(1_300.0, 0.3, z(d.z_latency))
        forced = d.u_fallback < (incidents.level("fallbacks", ts) or 0.0)
        provider = _route(run, ts, skip_primary=forced)
        # EVENTS.md: primary_failed when the fallbacks were tried, fallback only when one answered;
        # with every model down they differ, and that decision is a failed fallback.
        primary_failed = provider != AI_PROVIDERS[0]
        fallback = primary_failed and provider is not None
        if provider is None:
            ok, provider = False, AI_PROVIDERS[-1]  # every model was tried
        if ok:
            tokens, cost = _usage(run, ts, provider, d.z_tokens)
    latency *= incidents.multiplier("latency_spike", ts, "decisions")
    events: list[Raw] = [(ts, "ai.decision.generated", {
        "ts": ts,
        "decision_id": decision_id,
        "provider": provider,
        "model": _AI_MODELS[provider],
        "latency_ms": round(latency, 2),
        "status": "ok" if ok else "error",
        "primary_failed": primary_failed,
        "fallback": fallback,
        "cached": cached,
        "tokens": tokens,
        "cost_usd": round(cost, 6),
    })]
    if ok:
        outcome_ts = ts + _OUTCOME_DELAY_MS + int(5_000 * d.u_delay)
        accuracy = incidents.level("bad_decisions", outcome_ts, worst=min)
        correct = d.u_correct < (_DECISION_ACCURACY if accuracy is None else accuracy)
        events.append((outcome_ts, "ai.decision.outcome",
                       {"ts": outcome_ts, "decision_id": decision_id, "correct": correct}))
    return events


def _usage(run: Run, ts: int, provider: str, z_tokens: float) -> tuple[int, float]:
    """Tokens and cost of an uncached decision answered by ``provider``."""
    price = _AI_USD_PER_TOKEN[provider]
    overrun = run.incidents.level("cost_overrun", ts)
    if overrun is None:
        tokens = int(lognormal(_AI_TOKENS_MEDIAN, 0.3, z(z_tokens)))
        return tokens, tokens * price
    return round(overrun / price), overrun


def provider_status(run: Run, until_ms: int, index: int) -> Iterator[Raw]:
    provider = AI_PROVIDERS[index]
    intervals = run.incidents.intervals(("provider_down",), provider)
    return status_source(run, until_ms, "ai.provider.status", index, intervals, {"provider": provider})
