"""Probe engine: inspects an HTTPS endpoint; pure asyncio, no Home Assistant import."""

from .engine import MAX_CONCURRENT, Prober
from .models import (
    DEFAULT_PORT,
    CertificateInfo,
    HttpInfo,
    ProbeOptions,
    ProbeReport,
    ProtocolSupport,
    Target,
    Timings,
    Verdict,
    bracketed,
)
from .target import InvalidTargetError, parse_target

__all__ = [
    "DEFAULT_PORT",
    "MAX_CONCURRENT",
    "CertificateInfo",
    "HttpInfo",
    "InvalidTargetError",
    "ProbeOptions",
    "ProbeReport",
    "Prober",
    "ProtocolSupport",
    "Target",
    "Timings",
    "Verdict",
    "bracketed",
    "parse_target",
]
