"""Atelier's core: engine, library, records and queue. Never imports Qt."""

__version__ = "0.1.0"
