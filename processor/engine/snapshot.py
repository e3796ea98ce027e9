"""The engine's whole state as versioned, JSON-ready data, and back.

Each part encodes its own state (``BoundaryClock``, ``SliState`` with its series and the kinds'
buckets, ``AlertRules``, ``Budgets``); this module puts them into one document with a version.

Versions: 5 writes a series' sub-windows sealed past the live hour as packed arrays beside its
live ones (engine/sealed.py; a version-4 reader would drop them); 4 writes an error budget's rings
as packed arrays (engine/budget.py, ``pack_ring``) where 3 and before wrote [bucket, good, total]
rows (the tracker reads either); 3 may add two fields to a rule's state row (the boundary an event
decided it for, and what fires again after a resolution: rules that fire on the event,
engine/instant.py), which a version-2 reader would misread, so it refuses them; 2 writes a
calendar rule's running sum as the kind's bucket; 1 wrote it as a gauge plus good/total counts.
1 to 4 are still read (sub-windows written as rows are sealed as they restore), so an upgrade
keeps a checkpoint's state.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SNAPSHOT_VERSION", "restore_engine", "snapshot_engine"]

SNAPSHOT_VERSION = 5
_READABLE_VERSIONS = (1, 2, 3, 4, 5)


def snapshot_engine(engine: Any) -> dict:
    engine.flush()
    return {
        "version": SNAPSHOT_VERSION,
        **engine.clock.snapshot(),
        "resolution_ms": engine.clock.resolution_ms,
        "slis": {sli.name: sli.snapshot() for sli in engine.slis},
        "rules": engine.rules.snapshot(),
        "cardinality": engine.cardinality.snapshot(),
        "never_seen": engine.never_seen.snapshot(),
        "budgets": engine.budgets.snapshot(),
        "counters": {"accepted": engine.accepted, "ignored": engine.ignored, "rejected": dict(engine.rejected),
                     "rejected_by_sli": {name: dict(reasons) for name, reasons in engine.rejected_by_sli.items()}},
        "input": engine.input.snapshot(engine._slis_reading),
    }


def restore_engine(engine: Any, data: dict) -> list[str]:
    version = data.get("version")
    if version not in _READABLE_VERSIONS:
        raise ValueError(f"snapshot version {version!r}, expected one of {_READABLE_VERSIONS}")
    if data["resolution_ms"] != engine.clock.resolution_ms:
        raise ValueError(
            f"snapshot resolution {data['resolution_ms']} ms differs from config {engine.clock.resolution_ms} ms"
        )
    engine.clock.restore(data)
    notes: list[str] = []
    by_name = {sli.name: sli for sli in engine.slis}
    for name, entry in data["slis"].items():
        sli = by_name.get(name)
        if sli is None:
            notes.append(f"sli {name!r} is no longer configured; its state was dropped")
            continue
        notes += sli.restore(entry)
    if engine.clock.closed_until_ms is not None:
        # What the boundary last closed would have sealed (a snapshot before version 5 has it all live).
        for sli in engine.slis:
            for series in sli.series.values():
                series.seal(engine.clock.closed_until_ms)
    rules = data["rules"] if version >= 2 else _rules_from_v1(data["rules"])
    notes += engine.rules.restore(rules)
    engine.cardinality.restore(data.get("cardinality", {}))  # absent before it existed: no state
    engine.never_seen.restore(data.get("never_seen", {}))
    notes += engine.budgets.restore(data.get("budgets", {}), engine.clock.closed_until_ms)
    counters = data.get("counters", {})
    engine.accepted = counters.get("accepted", 0)
    engine.ignored = counters.get("ignored", 0)
    engine.rejected = dict(counters.get("rejected", {}))
    engine.rejected_by_sli = {name: dict(reasons) for name, reasons in counters.get("rejected_by_sli", {}).items()}
    engine.input.restore(data.get("input", {}))  # absent before the input ledger existed: nothing counted
    return notes


def _rules_from_v1(rules: dict) -> dict:
    """Version 1 calendar rows were [labels, end, gauge, good, total]: keep whichever part held data."""
    converted = {}
    for key, saved in rules.items():
        rows = []
        for labels, end_ms, gauge, good, total in saved.get("calendar", []):
            rows.append([labels, end_ms, gauge if gauge[1] else ([good, total] if total else None)])
        converted[key] = {**saved, "calendar": rows} if "calendar" in saved else saved
    return converted
