"""Replay: history (the streams, or an export file) through the same engines as ``slo run``."""
