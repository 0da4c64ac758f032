"""Home Assistant serving TLS itself: its certificate files, and what its listener serves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import errno
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from . import catalogue as c, issues
from .catalogue import Repair
from .const import PROBE_TIMEOUT
from .findings import (
    expiry_due,
    moment,
    renewed_but_not_served,
    revocation_placeholders,
    revoked_text,
)
from .options import EndpointOptions
from .probe import (
    CertificateInfo,
    Lifetime,
    ProbeOptions,
    Prober,
    ProbeReport,
    RevocationState,
    Target,
    Verdict,
    days_until,
    read_bounded,
)
from .prober import async_get_prober
from .tracker import Finding

# How the repair certificate_file_unreadable reads, by cause (its issue id stays the same).
FILE_UNREADABLE, FILE_MISSING, FILE_MISSING_IN_CONTAINER, FILE_NOT_PERMITTED, FILE_INVALID = (
    c.CERTIFICATE_FILE_UNREADABLE.texts
)
FILE_READ_TIMEOUT: Final = 10.0
# What the listener serves, and whether the CA revoked it.
OWN_PROBE: Final = ProbeOptions(
    timeout=PROBE_TIMEOUT, scan_legacy=False, check_http=False, check_renewal_info=False
)
OWN_TLS_REPAIRS: Final = (
    c.CERTIFICATE_FILE_UNREADABLE,
    c.CERTIFICATE_KEY_MISMATCH,
    c.STALE_CERTIFICATE,
    c.CERTIFICATE_FILE_EXPIRING,
    c.CERTIFICATE_FILE_RENEWAL_OVERDUE,
    c.CERTIFICATE_FILE_EXPIRED,
    c.CERTIFICATE_FILE_REVOKED,
)
# Home Assistant's own certificate is judged as an endpoint with the default options is.
OWN_OPTIONS: Final = EndpointOptions()
# The repair about the own certificate for each expiry repair of an endpoint.
OWN_EXPIRY: Final = {
    c.CERTIFICATE_EXPIRING_SOON: c.CERTIFICATE_FILE_EXPIRING,
    c.CERTIFICATE_RENEWAL_OVERDUE: c.CERTIFICATE_FILE_RENEWAL_OVERDUE,
}
CONTAINER_MARKERS: Final = (Path("/.dockerenv"), Path("/run/.containerenv"))
OWN_TLS_INTERVAL: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """What the configured files hold; `problem` is set when they are unusable."""

    problem: Repair | None = None
    placeholders: dict[str, str] = field(default_factory=dict)
    translation_key: str | None = None  # the repair's text, when it is not the problem's own
    sha256: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    names: tuple[str, ...] = ()


def _unreadable(path: str, err: OSError | ValueError) -> CertificateFiles:
    placeholders = {"path": path}
    if isinstance(err, FileNotFoundError):
        in_container = any(marker.exists() for marker in CONTAINER_MARKERS)
        translation_key = FILE_MISSING_IN_CONTAINER if in_container else FILE_MISSING
    elif isinstance(err, PermissionError):
        translation_key = FILE_NOT_PERMITTED
    elif isinstance(err, OSError):
        # any other error of the system (a directory, an I/O error): its own words
        translation_key = FILE_UNREADABLE
        placeholders["reason"] = err.strerror or type(err).__name__
    else:
        translation_key = FILE_INVALID
    return CertificateFiles(
        c.CERTIFICATE_FILE_UNREADABLE, placeholders, translation_key=translation_key
    )


def read_certificate_files(certificate_path: str, key_path: str | None) -> CertificateFiles:
    """Read the certificate and compare the key's public half with it (blocking; executor).

    The private key is loaded only for that comparison and is dropped before returning.
    """
    try:
        certificate = x509.load_pem_x509_certificates(read_bounded(certificate_path))[0]
    except (OSError, ValueError) as err:
        return _unreadable(certificate_path, err)
    if key_path is not None:
        try:
            key = serialization.load_pem_private_key(read_bounded(key_path), password=None)
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as err:
            return _unreadable(key_path, err if isinstance(err, OSError) else ValueError())
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        matches = key.public_key().public_bytes(
            serialization.Encoding.DER, spki
        ) == certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
        del key
        if not matches:
            return CertificateFiles(
                c.CERTIFICATE_KEY_MISMATCH, {"path": certificate_path, "key_path": key_path}
            )
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return CertificateFiles(
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        names=names,
    )


async def async_check_own_tls(hass: HomeAssistant, prober: Prober) -> None:
    """Raise or clear the repairs about the certificate Home Assistant serves itself."""
    http = hass.http
    found: list[Finding] = []
    judged = set(OWN_TLS_REPAIRS)
    if certificate_path := http.ssl_certificate:
        try:
            async with asyncio.timeout(FILE_READ_TIMEOUT):
                files = await hass.async_add_executor_job(
                    read_certificate_files, certificate_path, http.ssl_key
                )
        except TimeoutError:
            files = _unreadable(certificate_path, TimeoutError(errno.ETIMEDOUT, "read timed out"))
        if files.problem is not None:
            found.append(Finding(files.problem, files.placeholders, text=files.translation_key))
            judged.discard(c.CERTIFICATE_FILE_REVOKED)  # about the served certificate
        else:
            found.extend(_expiry(files, certificate_path))
            report = await _probe_listener(prober, files, http.server_port)
            if (served := report.leaf) is None:
                # the listener did not answer: whether it is stale or revoked is unknown
                judged -= {c.STALE_CERTIFICATE, c.CERTIFICATE_FILE_REVOKED}
            else:
                found.extend(_stale(files, certificate_path, served))
                revocation = _revocation(report, certificate_path)
                if revocation is None:
                    judged.discard(c.CERTIFICATE_FILE_REVOKED)
                else:
                    found.extend(revocation)
    issues.async_sync(hass, found, [repair for repair in OWN_TLS_REPAIRS if repair in judged])


def _expiry(files: CertificateFiles, path: str) -> list[Finding]:
    """Return the expiry repair due now, judged by the lifetime as an endpoint's expiry is."""
    assert files.not_before is not None  # noqa: S101 - set whenever there is no problem
    assert files.not_after is not None  # noqa: S101
    now = dt_util.now()
    lifetime = Lifetime(files.not_before, files.not_after)
    days = days_until(files.not_after, now)
    placeholders = {
        "path": path,
        "expiry": files.not_after.astimezone(now.tzinfo).date().isoformat(),
        "days": str(days),
        "expires_at": moment(files.not_after, now.tzinfo),
        "renew_by": moment(lifetime.renew_by, now.tzinfo),
    }
    if days < 0:
        return [Finding(c.CERTIFICATE_FILE_EXPIRED, {**placeholders, "days_expired": str(-days)})]
    verdict = Verdict.CERTIFICATE_NOT_YET_VALID if now < files.not_before else Verdict.OK
    if (due := expiry_due(lifetime, verdict, OWN_OPTIONS, now)) is None:
        return []
    repair, critical = due
    return [Finding(OWN_EXPIRY[repair], placeholders, critical=critical)]


async def _probe_listener(prober: Prober, files: CertificateFiles, port: int) -> ProbeReport:
    """Probe what Home Assistant's listener serves, and whether the CA revoked it."""
    target = Target(
        host="127.0.0.1", port=port, server_name=files.names[0] if files.names else None
    )
    return await prober.probe(target, OWN_PROBE)


def _stale(files: CertificateFiles, path: str, served: CertificateInfo) -> list[Finding]:
    """Return the repair when the file was renewed but the listener serves an older one."""
    if not renewed_but_not_served(files.sha256, files.not_before, served):
        return []
    return [
        Finding(
            c.STALE_CERTIFICATE,
            {
                "path": path,
                "served_until": served.not_after.date().isoformat(),
                "file_until": files.not_after.date().isoformat() if files.not_after else "",
            },
        )
    ]


def _revocation(report: ProbeReport, path: str) -> list[Finding] | None:
    """Return the repair when the CA revoked the served certificate; None when unknown.

    Known only for a chain the listener serves that validates against the public roots (the
    CA's answer must be signed by the certificate's proven issuer).
    """
    status = report.revocation
    if status is None or status.state is RevocationState.UNKNOWN:
        return None
    if status.state is not RevocationState.REVOKED:
        return []
    return [
        Finding(
            c.CERTIFICATE_FILE_REVOKED,
            {"path": path, **revocation_placeholders(status, dt_util.get_default_time_zone())},
            text=revoked_text(status, c.CERTIFICATE_FILE_REVOKED),
        )
    ]


async def async_check_own_tls_now(hass: HomeAssistant) -> None:
    """Check Home Assistant's own certificate with the shared prober."""
    await async_check_own_tls(hass, await async_get_prober(hass))


@callback
def async_watch_own_tls(hass: HomeAssistant) -> None:
    """Check once Home Assistant has started, then every OWN_TLS_INTERVAL."""

    async def check(_: object = None) -> None:
        await async_check_own_tls_now(hass)

    async_at_started(hass, check)
    async_track_time_interval(
        hass, check, OWN_TLS_INTERVAL, name="tls_health own certificate", cancel_on_shutdown=True
    )
