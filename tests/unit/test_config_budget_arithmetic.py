"""The error-budget arithmetic of PLATFORM-SLOS.md, exactly as the document writes it, computed
here from the loaded SloConfig fields, independently of the engine.

    allowed bad  = (1 - objective_ratio) x events            (occurrences)
    allowed bad  = (1 - objective_ratio) x window / slice    (time slices)
    burn rate    = bad fraction / (1 - objective_ratio)
    time to exhaustion = remaining fraction x window / burn rate

objective_ratio is a float, and in binary 1 - 0.999 is 0.0010000000000000009: 43.2 minutes would
come out as 43.20000000000004. So the tests take each float's shortest decimal form,
``Decimal(repr(x))``, which is exactly what the config said (the loader parses ``99.9%`` in decimal,
so the float is the one nearest 0.999 and its repr is ``0.999``), and compute in Decimal, where the
document's numbers come out exactly and are compared with ``==``. One test shows that the float
arithmetic the engine does agrees to a relative 1e-12 (pytest.approx).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from processor.config.load import load_config, load_config_text
from processor.config.model import SloConfig, Config

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def exact(x: float) -> Decimal:
    return Decimal(repr(x))


def allowed_bad_minutes(slo: SloConfig) -> Decimal:
    """The budget as time: (1 - objective) x window for occurrences at a steady rate; for time
    slices (1 - objective) x window / slice slices, each a slice long."""
    assert slo.budget is not None
    window = Decimal(slo.budget.window_ms)
    if slo.budget.method == "time_slices":
        allowed_slices = (1 - exact(slo.objective_ratio)) * window / slo.budget.slice_ms
        return allowed_slices * slo.budget.slice_ms / MINUTE_MS
    return (1 - exact(slo.objective_ratio)) * window / MINUTE_MS


@pytest.fixture(scope="module")
def platform() -> Config:
    return load_config(CONFIG_DIR / "slo.yaml")


# (the document's row, SLO, its "Error Budget (30 days)"); every section's availability is time:
# heartbeats (probes, for the bus) in one-minute slices over 30 days.
BUDGETS_AS_TIME = [
    ("API Gateway availability 99.9% is 43.2 minutes", "gateway_availability", Decimal("43.2")),
    ("the gateway's calendar month, nominally 30 days, is 43.2 minutes too", "gateway_availability_monthly",
     Decimal("43.2")),
    ("Platform availability 99.5% of a nominal 30-day month is 216 minutes (3.6 hours)", "sla_platform_availability",
     Decimal("216")),
    ("Trading Engine availability 99.95% is 21.6 minutes", "trading_availability", Decimal("21.6")),
    ("AI Decision Service availability 99.5% is 3.6 hours", "ai_availability", Decimal("3.6") * 60),
    ("Market Data Service availability 99.9% is 43.2 minutes", "market_availability", Decimal("43.2")),
    ("Analytics Service availability 99.5% is 3.6 hours", "analytics_availability", Decimal("3.6") * 60),
    ("Orchestrator availability 99.9% is 43.2 minutes", "orchestrator_availability", Decimal("43.2")),
    ("Event Bus availability 99.99% is 4.32 minutes", "bus_availability", Decimal("4.32")),
]


@pytest.mark.parametrize(("slo_name", "minutes"), [c[1:] for c in BUDGETS_AS_TIME], ids=[c[0] for c in BUDGETS_AS_TIME])
def test_error_budget_as_time(platform: Config, slo_name: str, minutes: Decimal) -> None:
    [slo] = [s for s in platform.slos if s.name == slo_name]

    assert minutes == allowed_bad_minutes(slo)


def test_trading_availability_allows_21_6_bad_one_minute_slices_of_43200(platform: Config) -> None:
    [slo] = [s for s in platform.slos if s.name == "trading_availability"]
    assert slo.budget is not None

    slices = Decimal(slo.budget.window_ms) / slo.budget.slice_ms
    allowed = (1 - exact(slo.objective_ratio)) * slices

    assert (Decimal(43_200), Decimal("21.6")) == (slices, allowed)


REQUESTS_IN_30_DAYS = 4_320_000  # the document's 1,000 requests/min x 43,200 minutes
# (row, SLO, allowed bad events per 4.32M)
BUDGETS_AS_EVENTS = [
    ("API Gateway error rate < 0.1% is 4,320 errors per 4.32M requests", "gateway_error_rate", 4_320),
    ("Rate limit accuracy 99.99% is 432 missed enforcements", "gateway_rate_limit_accuracy", 432),
    ("Order execution success 99.9% is 1 in 1000 orders", "trading_order_execution_success", 4_320),
    ("p95 < 200ms allows 5 % of requests at 200 ms or more", "gateway_latency_p95", 216_000),
]


@pytest.mark.parametrize(
    ("slo_name", "errors"), [c[1:] for c in BUDGETS_AS_EVENTS], ids=[c[0] for c in BUDGETS_AS_EVENTS]
)
def test_error_budget_as_events(platform: Config, slo_name: str, errors: int) -> None:
    [slo] = [s for s in platform.slos if s.name == slo_name]
    assert slo.budget is not None and slo.budget.method == "occurrences"

    allowed = (1 - exact(slo.objective_ratio)) * REQUESTS_IN_30_DAYS

    assert Decimal(errors) == allowed


def test_error_budget_is_one_minus_the_target(platform: Config) -> None:
    # "Error Budget = 1 - SLO Target. Example: 99.9% availability SLO: Error Budget = 0.1% = 43.2 minutes/month"
    [slo] = [s for s in platform.slos if s.name == "gateway_availability"]

    assert (Decimal("0.001"), Decimal("43.2")) == (1 - exact(slo.objective_ratio), allowed_bad_minutes(slo))


def test_float_arithmetic_agrees_to_a_relative_1e_minus_12(platform: Config) -> None:
    # The engine computes in floats: (1 - 0.999) * 2,592,000,000 ms is 43.20000000000004 minutes,
    # not 43.2, so exact equality would fail; the difference is rounding, nothing more.
    [slo] = [s for s in platform.slos if s.name == "gateway_availability"]

    allowed_minutes = (1 - slo.objective_ratio) * slo.window_ms / MINUTE_MS

    assert pytest.approx(43.2, rel=1e-12) == allowed_minutes


# ---------------------------------------------------------------------------- burn rates

ALL_PLATFORM_TIERS = """\
version: 1
burn_rate_catalogues: burn-rates.yaml
slis:
  requests: {service: api-gateway, kind: ratio, subject: analytics.gateway.request, good: status_code < 500}
slos:
  platform: {sli: requests, objective: 99.9%, budget: {window: 30d, burn_alerts: platform}}
  sre: {sli: requests, objective: 99.9%, budget: {window: 30d, burn_alerts: sre}}
"""


@pytest.fixture(scope="module")
def catalogues() -> dict[str, SloConfig]:
    spec = load_config_text(ALL_PLATFORM_TIERS, "catalogues.yaml", base_dir=CONFIG_DIR)
    return {s.name: s for s in spec.slos}


# "Burn Rate Alerts": (burn rate, alert level, time to exhaust)
BURN_RATE_TABLE = [
    ("1x is Normal: the budget lasts 30 days", "normal", 1, "info", 30),
    ("2x is Warning: 15 days", "warning", 2, "warning", 15),
    ("5x is Critical: 6 days", "critical", 5, "critical", 6),
    ("10x is Emergency: 3 days", "emergency", 10, "emergency", 3),
]


@pytest.mark.parametrize(
    ("tier_name", "burn", "severity", "days"), [c[1:] for c in BURN_RATE_TABLE], ids=[c[0] for c in BURN_RATE_TABLE]
)
def test_burn_rate_table(catalogues: dict[str, SloConfig], tier_name: str, burn: int, severity: str, days: int) -> None:
    slo = catalogues["platform"]
    assert slo.budget is not None
    [tier] = [t for t in slo.budget.burn_tiers if t.tier == tier_name]

    remaining = Decimal(1)
    time_to_exhaust_days = remaining * slo.budget.window_ms / exact(tier.burn) / DAY_MS

    assert (Decimal(burn), severity, Decimal(days)) == (exact(tier.burn), tier.severity, time_to_exhaust_days)


def test_the_platform_catalogue_has_exactly_the_documents_four_levels(catalogues: dict[str, SloConfig]) -> None:
    assert catalogues["platform"].budget is not None
    assert [c[1] for c in BURN_RATE_TABLE] == [t.tier for t in catalogues["platform"].budget.burn_tiers]


# The SRE catalogue's pairs alert when a given share of a 30-day budget is gone within the long window:
# share = burn x long / window.
SRE_TIERS = [
    ("page-fast: 14.4x over 1h spends 2% of the budget", "page-fast", "page", HOUR_MS, 5 * MINUTE_MS, Decimal("0.02")),
    ("page-slow: 6x over 6h spends 5%", "page-slow", "page", 6 * HOUR_MS, 30 * MINUTE_MS, Decimal("0.05")),
    ("ticket-fast: 3x over 1d spends 10%", "ticket-fast", "ticket", DAY_MS, 2 * HOUR_MS, Decimal("0.1")),
    ("ticket-slow: 1x over 3d spends 10%", "ticket-slow", "ticket", 3 * DAY_MS, 6 * HOUR_MS, Decimal("0.1")),
]


@pytest.mark.parametrize(
    ("tier_name", "severity", "long_ms", "short_ms", "share"), [c[1:] for c in SRE_TIERS], ids=[c[0] for c in SRE_TIERS]
)
def test_sre_catalogue(
    catalogues: dict[str, SloConfig], tier_name: str, severity: str, long_ms: int, short_ms: int, share: Decimal
) -> None:
    slo = catalogues["sre"]
    assert slo.budget is not None
    [tier] = [t for t in slo.budget.burn_tiers if t.tier == tier_name]

    spent = exact(tier.burn) * tier.long_ms / slo.budget.window_ms

    assert (severity, long_ms, short_ms, share) == (tier.severity, tier.long_ms, tier.short_ms, spent)


BURN_RATES = [
    ("the gateway's critical error rate of 0.5% is a 5x burn: the Critical level", Decimal("0.005"), Decimal(5)),
    ("its warning error rate of 0.05% is half the budget rate", Decimal("0.0005"), Decimal("0.5")),
    ("0.1% errors is exactly 1x", Decimal("0.001"), Decimal(1)),
    ("1% errors is a 10x burn: the Emergency level", Decimal("0.01"), Decimal(10)),
]


@pytest.mark.parametrize(("bad_fraction", "burn"), [c[1:] for c in BURN_RATES], ids=[c[0] for c in BURN_RATES])
def test_burn_rate_is_the_bad_fraction_over_the_budget(platform: Config, bad_fraction: Decimal, burn: Decimal) -> None:
    [slo] = [s for s in platform.slos if s.name == "gateway_error_rate"]

    assert burn == bad_fraction / (1 - exact(slo.objective_ratio))


TIME_TO_EXHAUSTION = [
    ("a full budget at 2x lasts 15 days", Decimal(1), Decimal(2), Decimal(15)),
    ("half a budget at 2x lasts 7.5 days", Decimal("0.5"), Decimal(2), Decimal("7.5")),
    ("a tenth of the budget at 10x lasts 7.2 hours", Decimal("0.1"), Decimal(10), Decimal("0.3")),
]


@pytest.mark.parametrize(
    ("remaining", "burn", "days"), [c[1:] for c in TIME_TO_EXHAUSTION], ids=[c[0] for c in TIME_TO_EXHAUSTION]
)
def test_time_to_exhaustion_is_remaining_times_window_over_burn(
    platform: Config, remaining: Decimal, burn: Decimal, days: Decimal
) -> None:
    [slo] = [s for s in platform.slos if s.name == "gateway_availability"]
    assert slo.budget is not None

    assert days == remaining * slo.budget.window_ms / burn / DAY_MS
