"""ACME Renewal Information (RFC 9773): the window in which the CA suggests renewing the leaf.

The renewalInfo URL comes from the CA's ACME directory (configured per endpoint, or that of a
well-known public ACME CA recognised from the issuer); the certificate is named by its authority
key identifier and serial. Answers are kept until the CA's Retry-After, held between
MIN_ASK_INTERVAL and MAX_ASK_INTERVAL, so the CA is asked at most a few times a day; the CA learns
which certificate is checked. A window that makes no sense is `unknown`, never a verdict.
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
import json
import re
import ssl
import time
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from .certificates import authority_key_identifier, serial_number
from .fetch import FetchError, fetch
from .inert import inert
from .models import RenewalInfo, UnknownReason

MAX_JSON_BYTES: Final = 64 * 1024
MIN_ASK_INTERVAL: Final = timedelta(hours=6)
MAX_ASK_INTERVAL: Final = timedelta(hours=24)
# A directory is read again after a day; one that failed after an hour.
DIRECTORY_TTL: Final = timedelta(hours=24)
FAILED_DIRECTORY_TTL: Final = timedelta(hours=1)
CACHE_SIZE: Final = 512
DIRECTORY_CACHE_SIZE: Final = 16
# A window this far outside the certificate's own validity is garbage, not advice.
WINDOW_SLACK: Final = timedelta(days=366)
MAX_URL_LENGTH: Final = 2048
_URL_SHOWN: Final = 120
_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True, slots=True)
class AcmeCa:
    """A public ACME CA, recognised by the organization its issuing certificates name."""

    name: str
    organizations: frozenset[str]
    directory: str
    ec_directory: str | None = None  # a CA with one directory per key type


WELL_KNOWN: Final = (
    AcmeCa(
        "Let's Encrypt",
        frozenset({"Let's Encrypt"}),
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
    AcmeCa(
        "Let's Encrypt (staging)",
        frozenset({"(STAGING) Let's Encrypt"}),
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    AcmeCa("ZeroSSL", frozenset({"ZeroSSL"}), "https://acme.zerossl.com/v2/DV90"),
    AcmeCa(
        "Google Trust Services",
        frozenset({"Google Trust Services", "Google Trust Services LLC"}),
        "https://dv.acme-v02.api.pki.goog/directory",
    ),
    AcmeCa(
        "Buypass", frozenset({"Buypass AS-983163327"}), "https://api.buypass.com/acme/directory"
    ),
    AcmeCa(
        "SSL.com",
        frozenset({"SSL Corporation", "SSL Corp"}),
        "https://acme.ssl.com/sslcom-dv-rsa",
        ec_directory="https://acme.ssl.com/sslcom-dv-ecc",
    ),
)


class RenewalInfoError(Exception):
    """An answer that gives no usable window; `reason` classifies it."""

    def __init__(self, reason: UnknownReason, detail: str) -> None:
        """Keep why, as a code and a sentence."""
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def recognise(leaf: x509.Certificate) -> tuple[str, str] | None:
    """Name and directory of the well-known ACME CA that issued `leaf`, if it is one."""
    organizations = {
        str(attribute.value)
        for attribute in leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    }
    for ca in WELL_KNOWN:
        if ca.organizations & organizations:
            ec_key = leaf.public_key_algorithm_oid.dotted_string == "1.2.840.10045.2.1"
            return ca.name, (ca.ec_directory if ec_key and ca.ec_directory else ca.directory)
    return None


def certificate_id(leaf: x509.Certificate) -> str | None:
    """`base64url(AKI keyIdentifier).base64url(serial DER)` (RFC 9773, section 4.1)."""
    key_id = authority_key_identifier(leaf)
    if not key_id:
        return None
    serial = serial_number(leaf)
    if serial <= 0:
        return None
    serial_der = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    return f"{_b64url(key_id)}.{_b64url(serial_der)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _https(url: object) -> bool:
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def renewal_info_base(body: bytes, directory: str) -> str:
    """Read the `renewalInfo` URL of an ACME directory; RenewalInfoError when it has none."""
    data = _json(body, f"the ACME directory {_shown(directory)}")
    url = data.get("renewalInfo")
    if url is None:
        raise RenewalInfoError(
            UnknownReason.NOT_SUPPORTED,
            f"the ACME directory {_shown(directory)} offers no renewal information",
        )
    if not _https(url):
        raise RenewalInfoError(
            UnknownReason.MALFORMED,
            f"the ACME directory {_shown(directory)} names no https:// renewalInfo URL",
        )
    return str(url)


def parse_window(
    body: bytes, leaf: x509.Certificate, url: str
) -> tuple[datetime, datetime, str | None]:
    """Start, end and explanation URL of a renewalInfo answer; RenewalInfoError for garbage."""
    data = _json(body, "the renewal information")
    window = data.get("suggestedWindow")
    if not isinstance(window, dict):
        raise RenewalInfoError(
            UnknownReason.MALFORMED, f"the answer of {_shown(url)} has no suggestedWindow"
        )
    start = _timestamp(window.get("start"))
    end = _timestamp(window.get("end"))
    if start is None or end is None:
        raise RenewalInfoError(
            UnknownReason.MALFORMED,
            f"the suggested window of {_shown(url)} has no readable start and end",
        )
    if end <= start:
        raise RenewalInfoError(
            UnknownReason.MALFORMED,
            f"the suggested window of {_shown(url)} does not end after it starts",
        )
    earliest = leaf.not_valid_before_utc - WINDOW_SLACK
    latest = leaf.not_valid_after_utc + WINDOW_SLACK
    if start < earliest or end > latest:
        raise RenewalInfoError(
            UnknownReason.MALFORMED,
            f"the suggested window of {_shown(url)} lies far outside the certificate's validity",
        )
    explanation = data.get("explanationURL")
    return (
        start,
        end,
        inert(explanation) if isinstance(explanation, str) and _https(explanation) else None,
    )


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise RenewalInfoError(UnknownReason.MALFORMED, f"{what} is not JSON") from err
    if not isinstance(data, dict):
        raise RenewalInfoError(UnknownReason.MALFORMED, f"{what} is not a JSON object")
    return data


def _timestamp(value: object) -> datetime | None:
    """Parse an RFC 3339 timestamp with a time zone; None for anything else."""
    if not isinstance(value, str) or len(value) > 64:  # noqa: PLR2004
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # microseconds at most
    zone = "+00:00" if zone in {"Z", "z"} else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}").astimezone(UTC)
    except ValueError:
        return None


def retry_after(value: str | None, now: datetime) -> timedelta:
    """Read the CA's Retry-After (seconds or an HTTP date), held within the asking bounds."""
    wait = MIN_ASK_INTERVAL
    if value:
        value = value.strip()
        if value.isascii() and value.isdigit() and len(value) < 12:  # noqa: PLR2004
            wait = timedelta(seconds=int(value))
        else:
            try:
                moment = parsedate_to_datetime(value)
            except TypeError, ValueError, IndexError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                wait = moment - now
    return min(max(wait, MIN_ASK_INTERVAL), MAX_ASK_INTERVAL)


def _shown(url: str) -> str:
    return inert(url, _URL_SHOWN)


@dataclass(frozen=True, slots=True)
class _Directory:
    base: str | None
    error: tuple[UnknownReason, str] | None
    until: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Cached:
    info: RenewalInfo
    until: float  # time.monotonic()


class RenewalChecker:
    """Asks ACME CAs for renewal windows; one per Prober, so each certificate is asked rarely."""

    def __init__(self) -> None:
        """Start with empty caches."""
        self._answers: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._directories: OrderedDict[str, _Directory] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def check(  # noqa: PLR0911
        self,
        leaf: x509.Certificate,
        directory: str | None,
        context: ssl.SSLContext,
        now: datetime,
        budget: float,
    ) -> RenewalInfo | None:
        """Ask for the renewal window of `leaf`; None when no ACME directory is known for it."""
        ca: str | None = None
        if directory is None:
            found = recognise(leaf)
            if found is None:
                return None
            ca, directory = found
        base = RenewalInfo(ca=ca, directory=directory)
        cert_id = certificate_id(leaf)
        if cert_id is None:
            return replace(
                base,
                unknown_reason=UnknownReason.NOT_SUPPORTED,
                detail="the certificate has no authority key identifier to name it by",
            )
        if not _https(directory):
            return replace(
                base,
                unknown_reason=UnknownReason.NOT_SUPPORTED,
                detail=f"the ACME directory {_shown(directory)} is not an https:// URL",
            )
        key = (directory, cert_id)
        cached = self._answers.get(key)
        if cached is not None and time.monotonic() < cached.until:
            self._answers.move_to_end(key)
            return cached.info
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with asyncio.timeout(budget), lock:
                cached = self._answers.get(key)
                if cached is not None and time.monotonic() < cached.until:
                    return cached.info
                info, wait = await self._ask(base, leaf, cert_id, context, now)
                return self._keep(key, info, wait)
        except TimeoutError:
            # asked again no sooner than after an answer that was not usable
            info = replace(
                base,
                unknown_reason=UnknownReason.UNREACHABLE,
                detail=f"the CA did not answer within {budget:g} s",
                next_ask=now + MIN_ASK_INTERVAL,
            )
            return self._keep(key, info, MIN_ASK_INTERVAL)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    def _keep(self, key: tuple[str, str], info: RenewalInfo, wait: timedelta) -> RenewalInfo:
        """Keep an answer (or why there is none) until the CA may be asked again."""
        self._answers[key] = _Cached(info, time.monotonic() + wait.total_seconds())
        while len(self._answers) > CACHE_SIZE:
            self._answers.popitem(last=False)
        return info

    async def _ask(
        self,
        base: RenewalInfo,
        leaf: x509.Certificate,
        cert_id: str,
        context: ssl.SSLContext,
        now: datetime,
    ) -> tuple[RenewalInfo, timedelta]:
        """Ask the CA; the answer or why not, and how long to keep it."""
        assert base.directory is not None  # noqa: S101 - set by check
        try:
            url = f"{(await self._base(base.directory, context)).rstrip('/')}/{cert_id}"
        except RenewalInfoError as err:
            return replace(base, unknown_reason=err.reason, detail=err.detail), MIN_ASK_INTERVAL
        base = replace(base, url=url)
        try:
            answer = await fetch(
                url, max_bytes=MAX_JSON_BYTES, context=context, accept="application/json"
            )
            start, end, explanation = parse_window(answer.body, leaf, url)
        except (FetchError, RenewalInfoError) as err:
            wait = MIN_ASK_INTERVAL
            return replace(
                base, unknown_reason=err.reason, detail=err.detail, next_ask=now + wait
            ), wait
        wait = retry_after(answer.headers.get("retry-after"), now)
        info = replace(
            base,
            window_start=start,
            window_end=end,
            explanation_url=explanation,
            fetched_at=now,
            next_ask=now + wait,
            detail=f"the CA suggests renewing between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M} UTC",
        )
        return info, wait

    async def _base(self, directory: str, context: ssl.SSLContext) -> str:
        """Return the directory's renewalInfo URL, cached a day (a failure an hour)."""
        cached = self._directories.get(directory)
        if cached is None or time.monotonic() >= cached.until:
            try:
                answer = await fetch(
                    directory, max_bytes=MAX_JSON_BYTES, context=context, accept="application/json"
                )
                cached = _Directory(
                    renewal_info_base(answer.body, directory),
                    None,
                    time.monotonic() + DIRECTORY_TTL.total_seconds(),
                )
            except (FetchError, RenewalInfoError) as err:
                cached = _Directory(
                    None,
                    (err.reason, err.detail),
                    time.monotonic() + FAILED_DIRECTORY_TTL.total_seconds(),
                )
            self._directories[directory] = cached
            while len(self._directories) > DIRECTORY_CACHE_SIZE:
                self._directories.popitem(last=False)
        if cached.error is not None:
            raise RenewalInfoError(*cached.error)
        assert cached.base is not None  # noqa: S101 - set when there is no error
        return cached.base
