"""Probe engine: inspects an HTTPS endpoint; pure asyncio, no Home Assistant import."""

from .engine import Prober
from .models import (
    CertificateInfo,
    HttpInfo,
    ProbeReport,
    ProtocolSupport,
    Target,
    Timings,
    Verdict,
)
from .target import InvalidTargetError, parse_target

__all__ = [
    "CertificateInfo",
    "HttpInfo",
    "InvalidTargetError",
    "ProbeReport",
    "Prober",
    "ProtocolSupport",
    "Target",
    "Timings",
    "Verdict",
    "parse_target",
]
