"""Probe engine: inspects an HTTPS endpoint; pure asyncio, no Home Assistant import."""
