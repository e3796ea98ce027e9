"""The pure engine: no clock, no I/O, no asyncio, no logging. Time is an argument."""

from processor.engine.core import Engine, run_all
from processor.engine.outputs import REJECTION_REASONS, AlertTransition, Outputs, Rejection

__all__ = ["REJECTION_REASONS", "AlertTransition", "Engine", "Outputs", "Rejection", "run_all"]
