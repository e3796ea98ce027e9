"""SLI kinds: one module per kind, each declaring everything that differs between kinds.

``KINDS`` maps a config's ``kind:`` to its ``Kind``. The engine builds every SLI through it and the
config language checks stats against it; see docs/architecture.md, "How to add an SLI kind".
"""

from __future__ import annotations

from processor.kinds.base import Kind
from processor.kinds.correlation import KIND as CORRELATION
from processor.kinds.events import KIND as EVENTS
from processor.kinds.gauge import KIND as GAUGE
from processor.kinds.latency import KIND as LATENCY
from processor.kinds.ratio import KIND as RATIO
from processor.kinds.state import KIND as STATE

__all__ = ["KINDS", "Kind", "kind_of"]

KINDS: dict[str, Kind] = {k.name: k for k in (LATENCY, RATIO, EVENTS, GAUGE, STATE, CORRELATION)}


def kind_of(name: str) -> Kind:
    return KINDS[name]
