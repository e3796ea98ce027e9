"""A synthetic trading platform: realistic traffic on every subject of EVENTS.md, with incidents.

Two halves:

- ``Simulator`` (``generator``) is pure and deterministic: no I/O and no wall clock, every draw
  from a ``random.Random`` seeded from ``seed``; the same seed gives the same bytes. Its events
  come from one source per subject and entity (``sources/``, a module per stream) on the platform
  of ``platform``, changed by the incidents of the catalogue in ``incidents``.
- ``publish()`` (``publish``) sends the events to JetStream through the bus package's public API,
  as fast as possible or paced against the wall clock, and realises the one incident that no
  payload can carry (``consumer_lag``).

``cli`` is ``slo simulate``. Nothing here imports the engine or the runtime.
"""

from __future__ import annotations

__all__ = [
    "INCIDENT_KINDS",
    "Event",
    "Incident",
    "IncidentKind",
    "IncidentRequest",
    "PublishProgress",
    "PublishResult",
    "Simulator",
    "format_incident_kinds",
    "parse_incident",
    "publish",
]

from processor.simulate.generator import Event, Simulator
from processor.simulate.incidents import (
    INCIDENT_KINDS,
    Incident,
    IncidentKind,
    IncidentRequest,
    format_incident_kinds,
    parse_incident,
)
from processor.simulate.publish import PublishProgress, PublishResult, publish
