"""Revocation status of a validated chain, from the CRL or OCSP responder its certificates name.

`revoked` is said only on proof: a CRL signed by the certificate's issuer (whose key may sign
CRLs), current at the time of the check, complete for that certificate, listing its serial; or an
OCSP response signed by the issuer or by a responder the issuer delegated (id-kp-OCSPSigning),
current, about this exact certificate. Anything else is `unknown`, never an alarm by itself.

The parsing and verifying functions are synchronous and run in an executor (a CRL may hold
megabytes); `RevocationChecker` fetches, caches (per CRL URL and issuer, until the CRL's
nextUpdate and at most MAX_CRL_AGE) and shares the CRLs among every probe of a Prober.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import OrderedDict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
import hashlib
import itertools
import os
import re
import time
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from .certificates import extension, serial_number
from .der import SEQUENCE, header, integer
from .fetch import FetchError, fetch, plain_http
from .inert import inert
from .models import (
    RevocationReason,
    RevocationSource,
    RevocationState,
    RevocationStatus,
    UnknownReason,
)

MAX_CRL_BYTES: Final = 16 * 1024 * 1024
MAX_OCSP_BYTES: Final = 64 * 1024
# Cached CRLs: at most this many, of at most this many bytes together (the largest is dropped
# first when over), each refreshed after MAX_CRL_AGE even before its nextUpdate.
CRL_CACHE_SIZE: Final = 32
CRL_CACHE_BYTES: Final = 48 * 1024 * 1024
MAX_CRL_AGE: Final = timedelta(hours=12)
MAX_REMEMBERED_LOOKUPS: Final = 1024  # per cached CRL
OCSP_CACHE_SIZE: Final = 256
MAX_OCSP_AGE: Final = timedelta(hours=12)
# Distribution points and responders tried per certificate.
MAX_URLS: Final = 3
# Clocks differ: a CRL or OCSP response issued this far in the future is still current.
CLOCK_SKEW: Final = timedelta(minutes=5)
# An OCSP response without nextUpdate is current for this long after its thisUpdate.
OCSP_WITHOUT_NEXT_UPDATE: Final = timedelta(days=4)
_URL_SHOWN: Final = 120

_REASONS: Final = {
    x509.ReasonFlags.unspecified: RevocationReason.UNSPECIFIED,
    x509.ReasonFlags.key_compromise: RevocationReason.KEY_COMPROMISE,
    x509.ReasonFlags.ca_compromise: RevocationReason.CA_COMPROMISE,
    x509.ReasonFlags.affiliation_changed: RevocationReason.AFFILIATION_CHANGED,
    x509.ReasonFlags.superseded: RevocationReason.SUPERSEDED,
    x509.ReasonFlags.cessation_of_operation: RevocationReason.CESSATION_OF_OPERATION,
    x509.ReasonFlags.certificate_hold: RevocationReason.CERTIFICATE_HOLD,
    x509.ReasonFlags.privilege_withdrawn: RevocationReason.PRIVILEGE_WITHDRAWN,
    x509.ReasonFlags.aa_compromise: RevocationReason.AA_COMPROMISE,
}


class RevocationError(Exception):
    """An answer that proves nothing; `reason` classifies it, the message tells it."""

    def __init__(self, reason: UnknownReason, detail: str) -> None:
        """Keep why, as a code and a sentence."""
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def shown(url: str) -> str:
    """Shorten and neutralise a URL from a certificate for a sentence."""
    return inert(url, _URL_SHOWN)


# ---------------------------------------------------------------------------------------------
# What a certificate names


def crl_urls(cert: x509.Certificate) -> list[str]:
    """Return the http:// URLs of the certificate's CRL distribution points (full names)."""
    found = extension(cert, x509.CRLDistributionPoints)
    if found is None:
        return []
    urls = [
        name.value
        for point in found.value
        if point.full_name is not None and point.crl_issuer is None and point.reasons is None
        for name in point.full_name
        if isinstance(name, x509.UniformResourceIdentifier) and plain_http(name.value)
    ]
    return list(dict.fromkeys(urls))[:MAX_URLS]


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """Return the http:// OCSP responder URLs of the certificate's information access."""
    found = extension(cert, x509.AuthorityInformationAccess)
    if found is None:
        return []
    urls = [
        access.access_location.value
        for access in found.value
        if access.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(access.access_location, x509.UniformResourceIdentifier)
        and plain_http(access.access_location.value)
    ]
    return list(dict.fromkeys(urls))[:MAX_URLS]


def _is_ca(cert: x509.Certificate) -> bool:
    basic = extension(cert, x509.BasicConstraints)
    return basic is not None and basic.value.ca


def _base(cert: x509.Certificate) -> RevocationStatus:
    return RevocationStatus(
        state=RevocationState.UNKNOWN,
        subject=cert.subject.rfc4514_string(),
        serial=format(serial_number(cert), "x"),
    )


def unknown(
    cert: x509.Certificate,
    reason: UnknownReason,
    detail: str,
    source: RevocationSource = RevocationSource.NONE,
    url: str | None = None,
) -> RevocationStatus:
    """Say that the status of `cert` is unknown, and why."""
    return replace(_base(cert), source=source, unknown_reason=reason, detail=detail, url=url)


# ---------------------------------------------------------------------------------------------
# CRLs (RFC 5280, section 6.3)


def load_crl(data: bytes, issuer: x509.Certificate, url: str) -> x509.CertificateRevocationList:
    """Parse a CRL and prove it is the issuer's, complete, for this URL; RevocationError if not.

    CPU-bound for a large CRL (its signature covers every entry): run it in an executor.
    """
    return checked_crl(data, issuer, url)[0]


def checked_crl(
    data: bytes, issuer: x509.Certificate, url: str
) -> tuple[x509.CertificateRevocationList, bytes]:
    """Return what `load_crl` does, and the CRL's DER bytes (also when it came as PEM)."""
    try:
        der = _der_of(data)
        crl = x509.load_der_x509_crl(der)
        crl_issuer = crl.issuer
        extensions = crl.extensions
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as err:
        raise RevocationError(
            UnknownReason.MALFORMED,
            f"the CRL at {shown(url)} cannot be parsed ({inert(str(err))})",
        ) from err
    if crl_issuer != issuer.subject:
        raise RevocationError(
            UnknownReason.UNVERIFIABLE,
            f"the CRL at {shown(url)} is issued by {inert(crl_issuer.rfc4514_string())}, "
            "not by the certificate's issuer",
        )
    usage = extension(issuer, x509.KeyUsage)
    if usage is not None and not usage.value.crl_sign:
        raise RevocationError(
            UnknownReason.UNVERIFIABLE,
            f"the issuer's key may not sign CRLs, yet {shown(url)} is signed by that name",
        )
    if not _crl_signed_by(crl, der, issuer):
        raise RevocationError(
            UnknownReason.UNVERIFIABLE,
            f"the signature of the CRL at {shown(url)} does not verify with the issuer's key",
        )
    _check_crl_scope(extensions, url)
    return crl, der


_PEM_CRL: Final = re.compile(rb"-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----", re.DOTALL)


def _der_of(data: bytes) -> bytes:
    """Return the DER bytes of a CRL that came as DER or as PEM; ValueError when neither."""
    if not data.lstrip().startswith(b"-----BEGIN"):
        return data
    if (found := _PEM_CRL.search(data)) is None:
        raise ValueError("no PEM CRL block")
    try:
        return base64.b64decode(b"".join(found[1].split()), validate=True)
    except binascii.Error as err:
        raise ValueError("the PEM block is not base64") from err


def _signed_part(der: bytes) -> bytes | None:
    """Return the TBSCertList as it came: the first element of the outer SEQUENCE.

    Sliced from the bytes: cryptography's `tbs_certlist_bytes` encodes it again, holding the
    GIL (40 ms of a stalled event loop for a 3 MB CRL).
    """
    outer = header(der, 0, _MAX_LENGTH_OCTETS)
    inner = header(der, outer[0], _MAX_LENGTH_OCTETS) if outer is not None else None
    if outer is None or inner is None or der[0] != SEQUENCE or der[outer[0]] != SEQUENCE:
        return None
    return der[outer[0] : inner[0] + inner[1]]


# Octets a CRL's outer lengths may take: 4 GiB, far past MAX_CRL_BYTES.
_MAX_LENGTH_OCTETS: Final = 4


def _crl_signed_by(
    crl: x509.CertificateRevocationList, der: bytes, issuer: x509.Certificate
) -> bool:
    """Verify the CRL's signature with the issuer's key.

    The signed part is sliced from the bytes and hashed with hashlib, which lets the event loop
    run meanwhile (cryptography holds the GIL: 60 ms of a stalled loop for a 3 MB CRL); the
    digest is then verified as prehashed.
    """
    try:
        key = issuer.public_key()
        algorithm = crl.signature_hash_algorithm
        signed = _signed_part(der)
        hashed_apart = algorithm is not None and algorithm.name in hashlib.algorithms_guaranteed
        match key:
            case rsa.RSAPublicKey() | ec.EllipticCurvePublicKey() if hashed_apart:
                assert algorithm is not None  # noqa: S101 - for the type checker
                if signed is None:
                    return False
                digest = hashlib.new(algorithm.name, signed).digest()
                prehashed = Prehashed(algorithm)
                if isinstance(key, rsa.RSAPublicKey):
                    scheme = crl.signature_algorithm_parameters
                    if not isinstance(scheme, padding.PKCS1v15 | padding.PSS):
                        return False
                    key.verify(crl.signature, digest, scheme, prehashed)
                else:
                    key.verify(crl.signature, digest, ec.ECDSA(prehashed))
                return True
            case (
                rsa.RSAPublicKey()
                | ec.EllipticCurvePublicKey()
                | ed25519.Ed25519PublicKey()
                | ed448.Ed448PublicKey()
            ):
                return crl.is_signature_valid(key)
            case _:
                return False
    except ValueError, TypeError, UnsupportedAlgorithm, InvalidSignature:
        return False


def _check_crl_scope(extensions: x509.Extensions, url: str) -> None:
    """Refuse a delta, indirect or partial CRL, and one that names another distribution point."""
    for ext in extensions:
        if isinstance(ext.value, x509.DeltaCRLIndicator):
            raise RevocationError(
                UnknownReason.NOT_SUPPORTED, f"the CRL at {shown(url)} is a delta CRL"
            )
        if ext.critical and not isinstance(
            ext.value, x509.IssuingDistributionPoint | x509.CRLNumber
        ):
            raise RevocationError(
                UnknownReason.NOT_SUPPORTED,
                f"the CRL at {shown(url)} carries a critical extension not understood "
                f"({ext.oid.dotted_string})",
            )
    try:
        point = extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return
    partial = point.only_some_reasons is not None or point.only_contains_attribute_certs
    if point.indirect_crl or partial:
        raise RevocationError(
            UnknownReason.NOT_SUPPORTED,
            f"the CRL at {shown(url)} is partial or indirect (issuing distribution point)",
        )
    names = [
        name.value
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
    # A CRL that names its distribution point covers only a certificate naming the same one,
    # here by the URL it was fetched from (RFC 5280, section 6.3.3 b.2.i).
    named = point.full_name is not None or point.relative_name is not None
    if named and url not in names:
        raise RevocationError(
            UnknownReason.UNVERIFIABLE,
            f"the CRL at {shown(url)} is the CRL of another distribution point",
        )


def crl_status(  # noqa: PLR0913
    crl: x509.CertificateRevocationList,
    cert: x509.Certificate,
    url: str,
    now: datetime,
    found: dict[int, x509.RevokedCertificate | None] | None = None,
    *,
    der: bytes | None = None,
) -> RevocationStatus:
    """Look the certificate up in a CRL `load_crl` accepted, if it is current at `now`.

    CPU-bound for a large CRL (the lookup walks its entries, holding the GIL): run it in an
    executor. `found` remembers lookups in this CRL (a warm check of a large CRL then costs no
    walk). `der`, the CRL as it came: a serial whose encoding it does not hold is not revoked,
    told by a byte search instead of a walk.
    """
    this_update = crl.last_update_utc
    next_update = crl.next_update_utc
    base = replace(
        _base(cert),
        source=RevocationSource.CRL,
        url=url,
        this_update=this_update,
        next_update=next_update,
    )
    if this_update > now + CLOCK_SKEW:
        return replace(
            base,
            unknown_reason=UnknownReason.STALE,
            detail=f"the CRL at {shown(url)} is issued in the future "
            f"({this_update:%Y-%m-%d %H:%M} UTC); check this host's clock",
        )
    if next_update is None or next_update < now:
        return replace(
            base,
            unknown_reason=UnknownReason.STALE,
            detail=f"the CRL at {shown(url)} is outdated"
            + (f" (next update was due {next_update:%Y-%m-%d %H:%M} UTC)" if next_update else ""),
        )
    scope = _scope_problem(crl, cert, url)
    if scope is not None:
        return replace(base, unknown_reason=UnknownReason.UNVERIFIABLE, detail=scope)
    serial = serial_number(cert)
    if found is not None and serial in found:
        entry = found[serial]
    elif der is not None and serial >= 0 and integer(serial) not in der:
        entry = None
        if found is not None and len(found) < MAX_REMEMBERED_LOOKUPS:
            found[serial] = entry
    else:
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        if found is not None and len(found) < MAX_REMEMBERED_LOOKUPS:
            found[serial] = entry
    reason = _entry_reason(entry) if entry is not None else None
    if entry is None or reason is None:
        return replace(
            base,
            state=RevocationState.GOOD,
            detail=f"not revoked according to the CRL at {shown(url)}",
        )
    return replace(
        base,
        state=RevocationState.REVOKED,
        reason=reason,
        revoked_at=entry.revocation_date_utc,
        detail=f"revoked on {entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC ({reason.value}) "
        f"according to the CRL at {shown(url)}",
    )


def _scope_problem(
    crl: x509.CertificateRevocationList, cert: x509.Certificate, url: str
) -> str | None:
    try:
        point = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return None
    is_ca = _is_ca(cert)
    if (point.only_contains_user_certs and is_ca) or (point.only_contains_ca_certs and not is_ca):
        kind = "CA" if is_ca else "end-entity"
        return f"the CRL at {shown(url)} does not cover {kind} certificates"
    return None


def _entry_reason(entry: x509.RevokedCertificate) -> RevocationReason | None:
    """Return the entry's reason; None for `removeFromCRL` (no longer revoked)."""
    try:
        flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return RevocationReason.UNSPECIFIED
    except ValueError, TypeError, x509.DuplicateExtension:
        return RevocationReason.UNSPECIFIED
    if flag is x509.ReasonFlags.remove_from_crl:
        return None
    return _REASONS.get(flag, RevocationReason.UNSPECIFIED)


# ---------------------------------------------------------------------------------------------
# OCSP (RFC 6960)


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes) -> bytes:
    """Build a DER OCSP request for `cert` (SHA-1 certificate ID, as responders expect)."""
    builder = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 - the CertID of RFC 6960
        .add_extension(x509.OCSPNonce(nonce), critical=False)
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_status(  # noqa: PLR0911, PLR0913
    data: bytes,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    url: str,
    now: datetime,
    nonce: bytes | None,
) -> RevocationStatus:
    """Judge an OCSP response about `cert`; `unknown` unless it is proven and current."""
    base = replace(_base(cert), source=RevocationSource.OCSP, url=url)

    def fail(reason: UnknownReason, detail: str) -> RevocationStatus:
        return replace(base, unknown_reason=reason, detail=detail)

    try:
        response = ocsp.load_der_ocsp_response(data)
        status = response.response_status
    except ValueError, TypeError, UnsupportedAlgorithm:
        return fail(UnknownReason.MALFORMED, f"the OCSP answer of {shown(url)} cannot be parsed")
    if status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return fail(
            UnknownReason.UNREACHABLE,
            f"the OCSP responder at {shown(url)} answered {status.name.lower()}",
        )
    try:
        signer = _ocsp_signer(response, issuer, now)
        if signer is None:
            return fail(
                UnknownReason.UNVERIFIABLE,
                f"the OCSP answer of {shown(url)} is signed neither by the issuer nor by a "
                "responder it authorised",
            )
        if not _signature_valid(
            signer.public_key(),
            response.signature,
            response.tbs_response_bytes,
            response.signature_hash_algorithm,
        ):
            return fail(
                UnknownReason.UNVERIFIABLE,
                f"the signature of the OCSP answer of {shown(url)} does not verify",
            )
        if nonce is not None and (echoed := _nonce(response)) is not None and echoed != nonce:
            return fail(
                UnknownReason.UNVERIFIABLE,
                f"the OCSP answer of {shown(url)} answers another request (nonce)",
            )
        single = _single_response(response, cert, issuer)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as err:
        return fail(
            UnknownReason.MALFORMED, f"the OCSP answer of {shown(url)} cannot be read ({err})"
        )
    if single is None:
        return fail(
            UnknownReason.UNVERIFIABLE,
            f"the OCSP answer of {shown(url)} is about another certificate",
        )
    this_update = single.this_update_utc
    next_update = single.next_update_utc
    base = replace(base, this_update=this_update, next_update=next_update)
    current_until = next_update or this_update + OCSP_WITHOUT_NEXT_UPDATE
    if this_update > now + CLOCK_SKEW or current_until + CLOCK_SKEW < now:
        return fail(
            UnknownReason.STALE,
            f"the OCSP answer of {shown(url)} is not current "
            f"(produced for {this_update:%Y-%m-%d %H:%M} UTC)",
        )
    match single.certificate_status:
        case ocsp.OCSPCertStatus.GOOD:
            return replace(
                base,
                state=RevocationState.GOOD,
                detail=f"not revoked according to the OCSP responder at {shown(url)}",
            )
        case ocsp.OCSPCertStatus.REVOKED:
            revoked_at = single.revocation_time_utc
            flag = single.revocation_reason
            reason = _REASONS.get(flag, RevocationReason.UNSPECIFIED) if flag else None
            reason = reason or RevocationReason.UNSPECIFIED
            when = f" on {revoked_at:%Y-%m-%d %H:%M} UTC" if revoked_at else ""
            return replace(
                base,
                state=RevocationState.REVOKED,
                reason=reason,
                revoked_at=revoked_at,
                detail=f"revoked{when} ({reason.value}) according to the OCSP responder at "
                f"{shown(url)}",
            )
    return fail(
        UnknownReason.UNKNOWN_TO_SOURCE,
        f"the OCSP responder at {shown(url)} does not know the certificate",
    )


def _single_response(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    """Find the response about exactly this certificate: serial, issuer name and key hashes."""
    serial = serial_number(cert)
    for single in response.responses:
        if single.serial_number != serial:
            continue
        algorithm = single.hash_algorithm
        if not isinstance(algorithm, hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
            continue
        # The certificate ID this response should carry, computed as a request would.
        wanted = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm).build()
        if (
            single.issuer_name_hash == wanted.issuer_name_hash
            and single.issuer_key_hash == wanted.issuer_key_hash
        ):
            return single
    return None


def _ocsp_signer(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, now: datetime
) -> x509.Certificate | None:
    """Find the signer: the issuer, or a responder it authorised for OCSP signing."""
    if _responder_is(response, issuer):
        return issuer
    for candidate in response.certificates[:4]:
        if not _responder_is(response, candidate) or candidate.issuer != issuer.subject:
            continue
        if not candidate.not_valid_before_utc - CLOCK_SKEW <= now <= candidate.not_valid_after_utc:
            continue
        eku = extension(candidate, x509.ExtendedKeyUsage)
        if eku is None or ExtendedKeyUsageOID.OCSP_SIGNING not in eku.value:
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
        except ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm:
            continue
        return candidate
    return None


def _responder_is(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    # ResponderID byKey: the SHA-1 of the key's BIT STRING, as RFC 5280's key identifier method 1.
    key_id = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    return response.responder_key_hash == key_id


def _nonce(response: ocsp.OCSPResponse) -> bytes | None:
    try:
        return response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _signature_valid(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        match key:
            case rsa.RSAPublicKey() if algorithm is not None:
                key.verify(signature, data, padding.PKCS1v15(), algorithm)
            case ec.EllipticCurvePublicKey() if algorithm is not None:
                key.verify(signature, data, ec.ECDSA(algorithm))
            case ed25519.Ed25519PublicKey() | ed448.Ed448PublicKey():
                key.verify(signature, data)
            case _:
                return False
    except InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Fetching and caching


@dataclass(slots=True)
class _CachedCrl:
    crl: x509.CertificateRevocationList
    der: bytes  # as it came (the parsed CRL refers to the same bytes)
    fetched: float  # time.monotonic()
    next_update: datetime | None
    found: dict[int, x509.RevokedCertificate | None] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes it holds."""
        return len(self.der)

    def current(self, now: datetime) -> bool:
        """Whether the CRL still speaks for `now` (its nextUpdate has not passed)."""
        return self.next_update is not None and now <= self.next_update

    def fresh(self, now: datetime) -> bool:
        """Whether it is current and young enough not to ask for a newer one."""
        return self.current(now) and time.monotonic() - self.fetched < MAX_CRL_AGE.total_seconds()


@dataclass(frozen=True, slots=True)
class _CachedOcsp:
    status: RevocationStatus
    until: float  # time.monotonic()
    current_until: datetime  # the answer speaks for no later moment

    @classmethod
    def of(cls, status: RevocationStatus, now: datetime) -> _CachedOcsp | None:
        """Keep an answer while it is current, for MAX_OCSP_AGE at most; None when it is not."""
        current_until = status.next_update or (
            status.this_update + OCSP_WITHOUT_NEXT_UPDATE if status.this_update else None
        )
        if current_until is None or current_until < now:
            return None
        age = min(MAX_OCSP_AGE, current_until - now).total_seconds()
        return cls(status, time.monotonic() + age, current_until)


class RevocationChecker:
    """Checks validated chains; one per Prober, so every endpoint shares its CRLs."""

    def __init__(self) -> None:
        """Start with empty caches."""
        self._crls: OrderedDict[tuple[str, bytes], _CachedCrl] = OrderedDict()
        self._crl_bytes = 0
        self._locks: dict[tuple[str, bytes], asyncio.Lock] = {}
        self._ocsp: OrderedDict[tuple[str, bytes, int], _CachedOcsp] = OrderedDict()

    @property
    def cached_crls(self) -> int:
        """How many CRLs are held."""
        return len(self._crls)

    async def check(
        self,
        path: Sequence[x509.Certificate],
        leaf: x509.Certificate,
        now: datetime,
        budget: float,
    ) -> tuple[RevocationStatus, tuple[RevocationStatus, ...]]:
        """Revocation of the validated `path` (leaf first): the chain's status, and each one's.

        Never raises for anything a network or a server does; bounded by `budget` seconds.
        """
        if len(path) < 2:  # noqa: PLR2004
            status = (
                unknown(
                    leaf,
                    UnknownReason.NOT_VERIFIED,
                    "the chain is not validated, so no revocation source can be trusted",
                )
                if not path
                else unknown(
                    leaf,
                    UnknownReason.NO_SOURCE,
                    "the certificate is trusted as it is: no issuer can revoke it",
                )
            )
            return status, (status,)
        checks = [self._leaf(path[0], path[1], now)]
        checks += [
            self._by_crl(cert, issuer, urls, now)
            for cert, issuer in itertools.pairwise(path[1:])
            if (urls := crl_urls(cert))
        ]
        certs = [path[0], *(cert for cert in path[1:-1] if crl_urls(cert))]
        statuses = tuple(
            await asyncio.gather(
                *(_bounded(check, cert, budget) for check, cert in zip(checks, certs, strict=True))
            )
        )
        revoked = next(
            (status for status in statuses if status.state is RevocationState.REVOKED), None
        )
        return revoked or statuses[0], statuses

    async def _leaf(
        self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> RevocationStatus:
        """Ask the CRL first (the CA/Browser Forum makes CRLs mandatory), then OCSP."""
        first: RevocationStatus | None = None
        if urls := crl_urls(cert):
            first = await self._by_crl(cert, issuer, urls, now)
            if first.state is not RevocationState.UNKNOWN:
                return first
        for url in ocsp_urls(cert):
            status = await self._by_ocsp(cert, issuer, url, now)
            if status.state is not RevocationState.UNKNOWN:
                return status
            first = first or status
        return first or unknown(
            cert,
            UnknownReason.NO_SOURCE,
            "the certificate names no CRL and no OCSP responder (over http)",
        )

    async def _by_crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, urls: list[str], now: datetime
    ) -> RevocationStatus:
        status: RevocationStatus | None = None
        for url in urls:
            status = await self._crl(cert, issuer, url, now)
            if status.state is not RevocationState.UNKNOWN:
                return status
        assert status is not None  # noqa: S101 - urls is not empty
        return status

    async def _crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, now: datetime
    ) -> RevocationStatus:
        loop = asyncio.get_running_loop()
        key = (url, issuer.fingerprint(hashes.SHA256()))
        cached = await self._cached_crl(key, issuer, url, now)
        if isinstance(cached, RevocationStatus):
            return replace(cached, subject=cert.subject.rfc4514_string(), serial=_base(cert).serial)
        if serial_number(cert) in cached.found:  # a remembered lookup walks nothing
            return crl_status(cached.crl, cert, url, now, cached.found)
        lookup = partial(crl_status, cached.crl, cert, url, now, cached.found, der=cached.der)
        return await loop.run_in_executor(None, lookup)

    async def _cached_crl(
        self, key: tuple[str, bytes], issuer: x509.Certificate, url: str, now: datetime
    ) -> _CachedCrl | RevocationStatus:
        """Return the issuer's CRL at `url`: cached while fresh, else fetched (once per key)."""
        cached = self._crls.get(key)
        if cached is not None and cached.fresh(now):
            self._crls.move_to_end(key)
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                cached = self._crls.get(key)
                if cached is not None and cached.fresh(now):
                    return cached
                try:
                    answer = await fetch(url, max_bytes=MAX_CRL_BYTES, context=None)
                    crl, der = await asyncio.get_running_loop().run_in_executor(
                        None, checked_crl, answer.body, issuer, url
                    )
                except (FetchError, RevocationError) as err:
                    if cached is not None and cached.current(now):
                        return cached  # the one held still speaks for now
                    return RevocationStatus(
                        state=RevocationState.UNKNOWN,
                        source=RevocationSource.CRL,
                        unknown_reason=err.reason,
                        detail=err.detail,
                        url=url,
                    )
                entry = _CachedCrl(crl, der, time.monotonic(), crl.next_update_utc)
                self._store(key, entry)
                return entry
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    def _store(self, key: tuple[str, bytes], entry: _CachedCrl) -> None:
        if (old := self._crls.pop(key, None)) is not None:
            self._crl_bytes -= old.size
        self._crls[key] = entry
        self._crl_bytes += entry.size
        while len(self._crls) > CRL_CACHE_SIZE or (
            self._crl_bytes > CRL_CACHE_BYTES and len(self._crls) > 1
        ):
            _, dropped = self._crls.popitem(last=False)
            self._crl_bytes -= dropped.size

    async def _by_ocsp(
        self, cert: x509.Certificate, issuer: x509.Certificate, url: str, now: datetime
    ) -> RevocationStatus:
        key = (url, issuer.fingerprint(hashes.SHA256()), serial_number(cert))
        cached = self._ocsp.get(key)
        if cached is not None and time.monotonic() < cached.until and now <= cached.current_until:
            self._ocsp.move_to_end(key)
            return cached.status
        nonce = os.urandom(16)
        try:
            request = ocsp_request(cert, issuer, nonce)
            answer = await fetch(
                url,
                max_bytes=MAX_OCSP_BYTES,
                context=None,
                data=request,
                content_type="application/ocsp-request",
                accept="application/ocsp-response",
            )
        except FetchError as err:
            return unknown(cert, err.reason, err.detail, RevocationSource.OCSP, url)
        except (ValueError, TypeError, UnsupportedAlgorithm) as err:
            return unknown(
                cert,
                UnknownReason.NOT_SUPPORTED,
                f"no OCSP request can be built for this certificate ({err})",
                RevocationSource.OCSP,
                url,
            )
        judge = partial(ocsp_status, answer.body, cert, issuer, url=url, now=now, nonce=nonce)
        status = await asyncio.get_running_loop().run_in_executor(None, judge)
        if status.state is not RevocationState.UNKNOWN and (kept := _CachedOcsp.of(status, now)):
            self._ocsp[key] = kept
            while len(self._ocsp) > OCSP_CACHE_SIZE:
                self._ocsp.popitem(last=False)
        return status


async def _bounded(
    check: Coroutine[Any, Any, RevocationStatus], cert: x509.Certificate, budget: float
) -> RevocationStatus:
    try:
        async with asyncio.timeout(budget):
            return await check
    except TimeoutError:
        return unknown(
            cert,
            UnknownReason.UNREACHABLE,
            f"no revocation source answered within {budget:g} s",
        )
    except Exception as err:  # noqa: BLE001 - whatever a source sends ends in `unknown`
        return unknown(
            cert,
            UnknownReason.MALFORMED,
            f"the revocation status could not be judged ({type(err).__name__}: {inert(str(err))})",
        )
