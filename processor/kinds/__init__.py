"""SLI kinds: one module per kind, each declaring everything that differs between kinds.

``KINDS`` maps a config's ``kind:`` to its ``Kind``. The engine builds every SLI through it and the
config language checks stats against it; see docs/architecture.md, "How to add an SLI kind".
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from processor.config.model import SliConfig
from processor.kinds.base import Kind
from processor.kinds.correlation import KIND as CORRELATION
from processor.kinds.events import KIND as EVENTS
from processor.kinds.gauge import KIND as GAUGE
from processor.kinds.latency import KIND as LATENCY
from processor.kinds.ratio import KIND as RATIO
from processor.kinds.state import KIND as STATE

__all__ = ["KINDS", "Kind", "register", "sli_config", "sli_config_union"]

KINDS: dict[str, Kind] = {k.name: k for k in (LATENCY, RATIO, EVENTS, GAUGE, STATE, CORRELATION)}


def register(kind: Kind) -> None:
    """Add a kind (a plug-in, or a test's own) to the registry."""
    KINDS[kind.name] = kind


def sli_config_union() -> Any:
    """Every kind's config model, as a pydantic union discriminated by ``kind``."""
    models = tuple(kind.config_model for kind in KINDS.values())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - built at run time


def sli_config(**fields: Any) -> SliConfig:
    """An SLI's config model from its fields, by ``kind`` (for code and tests that build configs)."""
    return TypeAdapter(sli_config_union()).validate_python(fields)  # type: ignore[no-any-return]
