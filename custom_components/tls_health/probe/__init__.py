"""Probe engine: inspects an HTTPS endpoint; pure asyncio, no Home Assistant import."""

from .engine import MAX_CONCURRENT, Prober
from .files import MAX_FILE_BYTES, read_bounded
from .inert import inert
from .lifetime import RENEWAL_AWARE_MAX_LIFETIME, Lifetime
from .models import (
    DEFAULT_PORT,
    AddressCheck,
    CertificateInfo,
    HttpInfo,
    ProbeOptions,
    ProbeReport,
    ProtocolSupport,
    RenewalInfo,
    RenewalPhase,
    RevocationReason,
    RevocationSource,
    RevocationState,
    RevocationStatus,
    Target,
    Timings,
    UnknownReason,
    Verdict,
    bracketed,
    days_until,
)
from .protocols import AppProtocol
from .target import InvalidTargetError, parse_target
from .trust import CaFileProblem, check_ca_file

__all__ = [
    "DEFAULT_PORT",
    "MAX_CONCURRENT",
    "MAX_FILE_BYTES",
    "RENEWAL_AWARE_MAX_LIFETIME",
    "AddressCheck",
    "AppProtocol",
    "CaFileProblem",
    "CertificateInfo",
    "HttpInfo",
    "InvalidTargetError",
    "Lifetime",
    "ProbeOptions",
    "ProbeReport",
    "Prober",
    "ProtocolSupport",
    "RenewalInfo",
    "RenewalPhase",
    "RevocationReason",
    "RevocationSource",
    "RevocationState",
    "RevocationStatus",
    "Target",
    "Timings",
    "UnknownReason",
    "Verdict",
    "bracketed",
    "check_ca_file",
    "days_until",
    "inert",
    "parse_target",
    "read_bounded",
]
