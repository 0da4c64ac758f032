"""The Prober: DNS, TCP, TLS handshake, chain judgement, legacy scan and HTTP, each time-bound."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
import errno
import ipaddress
import logging
import socket
import ssl
import time
import traceback
from typing import Any, Final
import warnings

from cryptography.hazmat.primitives.serialization import Encoding

from . import http, protocols
from .connection import HandshakeEOFError, PlainStream, Stream, TlsStream, open_tcp
from .files import file_identity
from .inert import inert
from .models import (
    AddressCheck,
    HttpInfo,
    ProbeOptions,
    ProbeReport,
    ProtocolSupport,
    RenewalInfo,
    RevocationStatus,
    Target,
    Timings,
    Verdict,
    bracketed,
    days_until,
    is_ip_address,
)
from .protocols import AppProtocol, Conversation, StepError
from .renewal import RenewalChecker
from .revocation import RevocationChecker
from .trust import TrustStore, load_ca_file, load_default_trust
from .verify import Assessment, assess

type SockAddr = tuple[str, int] | tuple[str, int, int, int]
type Address = tuple[socket.AddressFamily, SockAddr]

_LOGGER = logging.getLogger(__name__)

ALPN_PROTOCOLS: Final = ["h2", "http/1.1"]
LEGACY_CIPHERS: Final = "DEFAULT:@SECLEVEL=0"
HTTPS_PORT: Final = 443
# Probes running at once; each holds up to eight sockets while it connects (the addresses raced),
# then up to seven (main, two legacy, redirect, and one for each other address checked).
MAX_CONCURRENT: Final = 32
HTTP_PORT: Final = 80
DEFAULT_OPTIONS: Final = ProbeOptions()
CA_CACHE_SIZE: Final = 8
FILE_READ_TIMEOUT: Final = 5.0
# The verdict is known before the goodbye: a server slow to say goodbye does not hold the probe.
GOODBYE_TIMEOUT: Final = 3.0
# Happy Eyeballs (RFC 8305): the next address is tried after this long, or at once on a failure;
# at most MAX_RACED addresses (in that order) are tried.
CONNECT_DELAY: Final = 0.25
MAX_RACED: Final = 8
# Addresses of one name checked on their own (the main one included), and the time each may take.
MAX_ADDRESSES: Final = 4
ADDRESS_TIMEOUT: Final = 5.0
_DER: Final = 2  # _ssl.ENCODING_DER
_PEM: Final = Encoding.PEM
# The steps of a probe, each with a last-resort handler: an error no bound foresaw (a bug) ends
# that step, named in `details["step"]`, instead of escaping from `Prober.probe`.
STEPS: Final = {
    "dns": "looking up the name",
    "connect": "connecting",
    "starttls": "the exchange before TLS",
    "handshake": "the TLS handshake",
    "judgement": "judging the certificate chain",
    "legacy": "the TLS 1.0/1.1 scan",
    "http": "the HTTPS request",
    "redirect": "the http:// redirect check",
    "authority": "asking the CA (revocation, renewal information)",
    "addresses": "checking the other addresses",
    "goodbye": "the goodbye",
}
# Keys of `details` that hold for the whole probe, whichever address's certificate it reports.
_PROBE_WIDE: Final = frozenset({"ca_file_error", "step"})
# Certificate verdicts, worst first, in the order one chain's refusal is explained (trust, then
# validity, then the name, then a rule): the report describes the worst address's certificate.
_WORST_FIRST: Final = (
    Verdict.SELF_SIGNED,
    Verdict.UNTRUSTED_ISSUER,
    Verdict.INCOMPLETE_CHAIN,
    Verdict.CERTIFICATE_EXPIRED,
    Verdict.CERTIFICATE_NOT_YET_VALID,
    Verdict.HOSTNAME_MISMATCH,
    Verdict.NO_SUBJECT_ALT_NAME,
    Verdict.CHAIN_CONSTRAINT_VIOLATED,
    Verdict.CERTIFICATE_REJECTED,
    Verdict.OK,
)
_UNREACHABLE_ERRNOS: Final = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_PLAIN_HTTP_DETAIL: Final = "server answered plain HTTP, not TLS"
# Handshake failures a server that only speaks TLS 1.0/1.1 causes; the legacy scan then tells.
_LEGACY_SUSPECT_REASONS: Final = frozenset(
    {
        "tlsv1 alert protocol version",
        "unsupported protocol",
        "sslv3 alert handshake failure",
        "connection closed",
        "connection reset",
    }
)
_REASON_HINTS: Final = {
    "tlsv1 alert protocol version": "the server refused every TLS version offered (1.2, 1.3)",
    "unsupported protocol": "the server only offers an obsolete TLS version",
    "sslv3 alert handshake failure": "the server found no common cipher or protocol setting",
    "tlsv1 unrecognized name": "the server does not know the name sent in SNI",
    "tlsv1 alert internal error": "the server failed during the handshake",
    # OpenSSL's reason when DER in a handshake message does not parse: a certificate, mostly.
    "ASN1 lib": "the server sent a certificate that cannot be parsed",
    "cert length mismatch": "the server sent a malformed certificate message",
}


@dataclass(frozen=True, slots=True)
class _Contexts:
    """Client contexts, built once in the executor and shared by every probe."""

    main: ssl.SSLContext
    http1: ssl.SSLContext
    bare: ssl.SSLContext  # no ALPN: protocols other than HTTPS
    tls1_0: ssl.SSLContext
    tls1_1: ssl.SSLContext


@dataclass(frozen=True, slots=True)
class _CaEntry:
    trust: TrustStore
    error: str | None


@dataclass(slots=True)
class _Report:
    """Mutable accumulator of one probe; frozen into a ProbeReport at the end."""

    target: Target
    checked_at: datetime
    details: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    timings: Timings = field(default_factory=Timings)
    tls_version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    protocols: ProtocolSupport = field(default_factory=ProtocolSupport)
    notes: list[str] = field(default_factory=list)
    # Every address the name resolved to, how many were neither connected to nor checked, and
    # the chain the main connection received (DER) with its assessment.
    resolved: list[Address] = field(default_factory=list)
    left_out: int = 0
    served: list[bytes] | None = None
    assessment: Assessment | None = None

    def time(self, **values: float | None) -> None:
        self.timings = replace(self.timings, **values)

    def note(self, text: str) -> None:
        """Add a remark to the detail of the report (once)."""
        if text not in self.notes:
            self.notes.append(text)

    def finish(self, verdict: Verdict, detail: str, **extra: object) -> ProbeReport:
        details = {"host": self.target.host, "port": str(self.target.port), **self.details}
        if self.notes:
            detail = f"{detail} ({'; '.join(self.notes)})"
        return ProbeReport(
            target=self.target,
            checked_at=self.checked_at,
            verdict=verdict,
            detail=detail,
            details=details,
            address=self.address,
            timings=self.timings,
            tls_version=self.tls_version,
            cipher=self.cipher,
            alpn=self.alpn,
            protocols=self.protocols,
            addresses_left_out=self.left_out,
            **extra,  # type: ignore[arg-type]
        )

    def failed(self, failure: _StepFailedError) -> ProbeReport:
        """Finish with the failure of a step that decides the verdict."""
        if failure.reason:
            self.details["reason"] = failure.reason
        return self.finish(failure.verdict, failure.detail)

    def unexpected(self, step: str, err: Exception) -> str:
        """Log an error no bound foresaw (a bug) and return the sentence that names its step.

        The log line holds the error's type and our own stack, never its message: that may
        carry what a server sent.
        """
        where = inert(f"{self.target.protocol}://{bracketed(self.target.host)}:{self.target.port}")
        _LOGGER.error(
            "Unexpected %s in step %s (%s) while probing %s; please report this bug:\n%s",
            type(err).__name__,
            step,
            STEPS[step],
            where,
            "".join(traceback.format_tb(err.__traceback__)).rstrip(),
        )
        self.details.setdefault("step", step)
        return f"the probe failed unexpectedly in {STEPS[step]} ({type(err).__name__})"

    def stopped(self, step: str, err: Exception) -> _StepFailedError:
        """Return the failure that ends the probe when a step deciding the verdict hits a bug."""
        detail = self.unexpected(step, err)
        return _StepFailedError(
            Verdict.HANDSHAKE_FAILED, detail, f"unexpected {type(err).__name__} in step {step}"
        )


class _StepFailedError(Exception):
    """A network step ended the probe with a verdict."""

    def __init__(self, verdict: Verdict, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail
        self.reason = reason


def _finish(
    assessment: Assessment | None,
    report: _Report,
    http_info: HttpInfo | None,
    authority: _Authority | None = None,
) -> ProbeReport:
    """Finish a completed handshake with the served chain's judgement and description."""
    if assessment is None:
        return report.finish(Verdict.HANDSHAKE_FAILED, "server sent no certificate", http=http_info)
    judgement = assessment.judgement
    report.details.update(judgement.details)
    if assessment.chain:
        earliest = min(info.not_after for info in assessment.chain)
        report.details.setdefault("days", str(days_until(earliest, report.checked_at)))
        report.details.setdefault("expiry", f"{earliest:%Y-%m-%d}")
    authority = authority or _Authority()
    return report.finish(
        judgement.verdict,
        judgement.detail,
        chain=assessment.chain,
        chain_in_order=assessment.in_order,
        placeholder=judgement.placeholder,
        http=http_info,
        revocation=authority.revocation,
        revocation_chain=authority.revocation_chain,
        renewal_info=authority.renewal_info,
    )


@dataclass(frozen=True, slots=True)
class _Authority:
    """What the CA says of the served chain: revocation and renewal information."""

    revocation: RevocationStatus | None = None
    revocation_chain: tuple[RevocationStatus, ...] = ()
    renewal_info: RenewalInfo | None = None


def _client_context(alpn: list[str] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified afterwards with cryptography
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def _verifying_context(trust: TrustStore) -> ssl.SSLContext:
    """Build a client context that verifies servers against the trust store (blocking)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(
        cadata=b"".join(cert.public_bytes(_PEM) for cert in trust.certificates).decode("ascii")
    )
    return context


def _legacy_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    context = _client_context(None)
    context.set_ciphers(LEGACY_CIPHERS)
    with warnings.catch_warnings():
        # Pinning TLS 1.0/1.1 is deprecated in the ssl module; here it is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    return context


def _build() -> tuple[_Contexts, TrustStore]:
    contexts = _Contexts(
        main=_client_context(ALPN_PROTOCOLS),
        http1=_client_context(["http/1.1"]),
        bare=_client_context(None),
        tls1_0=_legacy_context(ssl.TLSVersion.TLSv1),
        tls1_1=_legacy_context(ssl.TLSVersion.TLSv1_1),
    )
    return contexts, load_default_trust()


def _ssl_reason(err: ssl.SSLError) -> str:
    """Return the OpenSSL reason text, e.g. 'wrong version number'."""
    text = str(err.args[1]) if len(err.args) > 1 else str(err)
    if "] " in text:
        text = text.split("] ", 1)[1]
    text = text.split(" (_ssl.c", 1)[0].strip()
    return text or (err.reason or type(err).__name__).lower().replace("_", " ")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class Prober:
    """Inspects HTTPS endpoints. Create once with `await Prober.create()`, probe many times."""

    def __init__(
        self, contexts: _Contexts, trust: TrustStore, max_concurrent: int = MAX_CONCURRENT
    ) -> None:
        """Use `create` (it builds the contexts and trust store off the event loop)."""
        self._contexts = contexts
        self._trust = trust
        # By the file's identity (resolved path, inode, mtime, size): a changed file is read anew.
        self._ca_cache: OrderedDict[tuple[str, int, int, int, int], _CaEntry] = OrderedDict()
        self._slots = asyncio.Semaphore(max_concurrent)
        # Shared by every probe: CRLs, OCSP and renewal answers are fetched once for all.
        self._revocation = RevocationChecker()
        self._renewal = RenewalChecker()
        # HTTPS contexts for the CA's ACME directory, trusting what the endpoint's chain may use.
        self._https: OrderedDict[frozenset[bytes], ssl.SSLContext] = OrderedDict()

    @classmethod
    async def create(cls, *, max_concurrent: int = MAX_CONCURRENT) -> Prober:
        """Build every SSLContext and the default trust store in the executor, once.

        At most `max_concurrent` probes run at a time; the others wait, outside their budget.
        """
        loop = asyncio.get_running_loop()
        contexts, trust = await loop.run_in_executor(None, _build)
        return cls(contexts, trust, max_concurrent)

    async def probe(
        self,
        target: Target,
        options: ProbeOptions = DEFAULT_OPTIONS,
        *,
        now: datetime | None = None,
    ) -> ProbeReport:
        """Inspect target; every network outcome is a verdict, nothing network-made raises."""
        async with self._slots:
            return await self._probe(target, options, now or datetime.now(UTC))

    async def _probe(self, target: Target, options: ProbeOptions, now: datetime) -> ProbeReport:
        report = _Report(target=target, checked_at=now)
        trust = await self._trust_for(target.ca_file, report)
        try:
            address, sock = await self._open(target, options.timeout, report)
        except _StepFailedError as failure:
            return report.failed(failure)
        others = [other for other in _interleaved(report.resolved) if other != address]
        others = others[: MAX_ADDRESSES - 1]
        report.left_out = len(report.resolved) - 1 - len(others)
        budget = min(options.timeout, ADDRESS_TIMEOUT)
        async with asyncio.TaskGroup() as group:
            served = [
                group.create_task(self._served_at(other, target, budget, report))
                for other in others
            ]
            result = await self._main(sock, address, trust, options, report)
        if not others:
            return result
        return await self._merged(
            result, report, [task.result() for task in served], trust, options
        )

    async def _merged(
        self,
        main: ProbeReport,
        report: _Report,
        others: list[_Served],
        trust: TrustStore,
        options: ProbeOptions,
    ) -> ProbeReport:
        """Add every address's outcome to the main connection's report.

        The report then describes the worst certificate any of them served, not the certificate
        of whichever address won the connection race.
        """
        try:
            checked = await _address_checks(main, report, others, trust)
            worst = _worst(checked)
            authority = None
            if worst is not None and worst.ders != report.served:
                authority = await self._authority(worst.assessment, trust, options, report)
            result = _reported(main, report, checked, worst, authority)
        except Exception as err:  # noqa: BLE001 - the other addresses' last resort
            detail = f"{main.detail} ({report.unexpected('addresses', err)})"
            result = replace(main, detail=detail)
        if "step" in report.details and "step" not in result.details:
            # a last resort in another address's session, after the main report was made
            result = replace(result, details={**result.details, "step": report.details["step"]})
        return result

    async def _main(
        self,
        sock: socket.socket,
        address: Address,
        trust: TrustStore,
        options: ProbeOptions,
        report: _Report,
    ) -> ProbeReport:
        """Everything on the connected socket: STARTTLS, handshake, and what follows it."""
        try:
            stream = await self._upgraded(sock, report.target, options.timeout, report)
        except _StepFailedError as failure:
            return report.failed(failure)
        return await self._through(stream, address, trust, options, report)

    async def _through(
        self,
        stream: TlsStream,
        address: Address,
        trust: TrustStore,
        options: ProbeOptions,
        report: _Report,
    ) -> ProbeReport:
        """Handshake on the connected stream, then everything after it; always closes it."""
        try:
            try:
                await self._handshake(stream, report.target.protocol, options.timeout, report)
            except _StepFailedError as failure:
                stream.close()
                return await self._handshake_failed(failure, address, options, report)
            return await self._after_handshake(stream, address, trust, options, report)
        finally:
            stream.close()

    # -- steps -------------------------------------------------------------------------------

    async def _trust_for(self, ca_file: str | None, report: _Report) -> TrustStore:
        """Default trust plus the target's CA file, read in the executor, bounded and cached."""
        if ca_file is None:
            return self._trust
        entry = await self._ca_entry(ca_file)
        if entry.error:
            report.note(f"{entry.error}; judged without it")
            report.details["ca_file_error"] = entry.error
        return entry.trust

    async def _ca_entry(self, path: str) -> _CaEntry:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(FILE_READ_TIMEOUT):
                identity = await loop.run_in_executor(None, file_identity, path)
                if identity is not None and (cached := self._ca_cache.get(identity)):
                    self._ca_cache.move_to_end(identity)
                    return cached
                entry = await loop.run_in_executor(None, self._load_ca, path)
        except TimeoutError:
            return _CaEntry(self._trust, f"CA file {path} could not be read in time")
        if identity is not None and entry.error is None:
            self._ca_cache[identity] = entry
            while len(self._ca_cache) > CA_CACHE_SIZE:
                self._ca_cache.popitem(last=False)
        return entry

    def _load_ca(self, path: str) -> _CaEntry:
        certs, error = load_ca_file(path)
        return _CaEntry(self._trust.extended(certs), error)

    async def _open(
        self, target: Target, budget: float, report: _Report
    ) -> tuple[Address, socket.socket]:
        """Resolve, and connect to the first address that accepts."""
        addresses = await self._resolve(target, budget, report)
        report.resolved = addresses
        sock, address = await self._connect(addresses, budget, report)
        report.address = address[1][0]
        return address, sock

    async def _upgraded(
        self, sock: socket.socket, target: Target, budget: float, report: _Report
    ) -> TlsStream:
        """Speak the protocol up to the handshake, and wrap the socket; close it on failure."""
        await self._before_handshake(sock, target.protocol, budget, report)
        context = self._contexts.main if target.protocol.spec.http else self._contexts.bare
        try:
            return TlsStream(sock, context, target.sni)
        except (ValueError, UnicodeError) as err:
            sock.close()
            raise _StepFailedError(
                Verdict.HANDSHAKE_FAILED, f"server name {target.sni!r} cannot be sent ({err})"
            ) from err
        except Exception as err:
            sock.close()
            raise report.stopped("handshake", err) from err

    async def _before_handshake(
        self, sock: socket.socket, protocol: AppProtocol, budget: float, report: _Report
    ) -> None:
        """Speak the protocol's plain part up to the handshake (STARTTLS); close sock on failure."""
        if not protocol.spec.starttls:
            return
        label = protocol.spec.label
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                await protocols.upgrade(protocol, Conversation(PlainStream(sock)), sock)
        except StepError as err:
            sock.close()
            verdict = (
                Verdict.STARTTLS_NOT_OFFERED
                if err.kind == StepError.NOT_OFFERED
                else Verdict.HANDSHAKE_FAILED
            )
            raise _StepFailedError(verdict, err.detail, err.reason) from err
        except TimeoutError as err:
            sock.close()
            raise _StepFailedError(
                Verdict.TIMEOUT, f"no complete {label} answer within {budget:g} s"
            ) from err
        except OSError as err:
            sock.close()
            reason = err.strerror or str(err)
            raise _StepFailedError(
                Verdict.HANDSHAKE_FAILED, f"the connection failed before TLS started ({reason})"
            ) from err
        except Exception as err:
            sock.close()
            raise report.stopped("starttls", err) from err
        report.time(starttls_ms=_ms(started))

    async def _resolve(self, target: Target, budget: float, report: _Report) -> list[Address]:
        try:
            return await self._addresses_of(target, budget, report)
        except _StepFailedError:
            raise
        except Exception as err:
            raise report.stopped("dns", err) from err

    async def _addresses_of(self, target: Target, budget: float, report: _Report) -> list[Address]:
        literal = target.address or (target.host if is_ip_address(target.host) else None)
        if literal is not None:
            try:
                infos = socket.getaddrinfo(
                    literal, target.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
                )
            except (OSError, UnicodeError) as err:
                raise _StepFailedError(
                    Verdict.NETWORK_UNREACHABLE, f"address {literal} is not usable: {err}"
                ) from err
            return _addresses(infos)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                infos = await lookup(target.host, target.port)
        except TimeoutError as err:
            raise _StepFailedError(
                Verdict.DNS_FAILURE, f"looking up {target.host} timed out after {budget:g} s"
            ) from err
        except (OSError, UnicodeError, RuntimeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise _StepFailedError(
                Verdict.DNS_FAILURE, f"{target.host} cannot be resolved ({reason})"
            ) from err
        report.time(dns_ms=_ms(started))
        addresses = _addresses(infos)
        if not addresses:
            raise _StepFailedError(Verdict.DNS_FAILURE, f"{target.host} has no address")
        return addresses

    async def _connect(
        self, addresses: list[Address], budget: float, report: _Report
    ) -> tuple[socket.socket, Address]:
        """Connect to the first address that accepts, racing them as Happy Eyeballs does.

        One address that never answers (a black-holed IPv6 route) only delays the next by
        CONNECT_DELAY instead of using up the budget of all of them. At most MAX_RACED
        addresses are tried: each attempt holds a socket until one wins.
        """
        started = time.perf_counter()
        port = addresses[0][1][1]
        raced = _interleaved(addresses)[:MAX_RACED]
        try:
            async with asyncio.timeout(budget):
                sock, address, failure = await _race(raced)
        except TimeoutError:
            failure = _StepFailedError(
                Verdict.TIMEOUT,
                f"connecting to port {port} timed out after {budget:g} s "
                "(a firewall may drop the packets)",
            )
        except Exception as err:
            raise report.stopped("connect", err) from err
        else:
            if sock is not None and address is not None:
                report.time(connect_ms=_ms(started))
                return sock, address
        report.left_out = len(addresses) - len(raced)
        assert failure is not None  # noqa: S101 - every address failed
        raise failure

    async def _handshake(
        self, stream: TlsStream, protocol: AppProtocol, budget: float, report: _Report
    ) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                await stream.handshake()
        except TimeoutError as err:
            detail = f"the TLS handshake did not complete within {budget:g} s"
            if _plain_text_answer(stream, protocol):
                raise _plaintext_on_tls_port(stream, protocol) from err
            if stream.first_bytes.startswith(b"HTTP/"):
                detail = f"{_PLAIN_HTTP_DETAIL}: {detail}"
            raise _StepFailedError(Verdict.TIMEOUT, detail) from err
        except (ssl.SSLError, OSError) as err:
            if _plain_text_answer(stream, protocol):
                raise _plaintext_on_tls_port(stream, protocol) from err
            raise _handshake_error(stream, err) from err
        except Exception as err:
            raise report.stopped("handshake", err) from err
        report.time(tls_ms=_ms(started))
        ssl_object = stream.ssl_object
        try:
            report.tls_version = ssl_object.version()
            cipher = ssl_object.cipher()
            report.cipher = cipher[0] if cipher else None
            report.alpn = ssl_object.selected_alpn_protocol()
            report.served = _chain_bytes(ssl_object)
        except Exception as err:
            raise report.stopped("handshake", err) from err

    async def _handshake_failed(
        self,
        failure: _StepFailedError,
        address: Address,
        options: ProbeOptions,
        report: _Report,
    ) -> ProbeReport:
        """Finish with the handshake's failure; a server that speaks only TLS 1.0/1.1 says so."""
        detail = failure.detail
        if (
            options.scans_legacy(report.target.protocol)
            and failure.reason in _LEGACY_SUSPECT_REASONS
        ):
            report.protocols = await self._scan_legacy(
                address, options.timeout, report, tls1_3=None
            )
            detail = _legacy_hint(detail, report.protocols)
        return report.failed(_StepFailedError(failure.verdict, detail, failure.reason))

    async def _after_handshake(
        self,
        stream: TlsStream,
        address: Address,
        trust: TrustStore,
        options: ProbeOptions,
        report: _Report,
    ) -> ProbeReport:
        """Judge the served chain while the legacy scan, GET / and the redirect check run."""
        target = report.target
        budget = options.timeout
        tls1_3 = report.tls_version == "TLSv1.3"
        report.protocols = ProtocolSupport(tls1_3=tls1_3)
        ders = report.served or []
        check_http = options.checks_http(target.protocol)
        async with asyncio.TaskGroup() as group:
            if not check_http:
                group.create_task(_goodbye(stream, target.protocol, budget, report))
            legacy = (
                group.create_task(self._scan_legacy(address, budget, report, tls1_3=tls1_3))
                if options.scans_legacy(target.protocol)
                else None
            )
            https = (
                group.create_task(self._http(stream, address, report, budget))
                if check_http
                else None
            )
            redirect = (
                group.create_task(self._redirect(address, report, budget, options.http_port))
                if options.checks_redirect(target.protocol)
                else None
            )
            failure = await self._judge(ders, trust, report)
            # Then what the CA says, while the other steps go on.
            authority = group.create_task(
                self._authority(report.assessment, trust, options, report)
            )
        if legacy is not None:
            report.protocols = legacy.result()
        http_info: HttpInfo | None = None
        if https is not None:
            http_info, http_ms = https.result()
            report.time(http_ms=http_ms)
        if redirect is not None:
            http_info = replace(http_info or HttpInfo(), redirects_to_https=redirect.result())
        if failure is None:
            try:
                return _finish(report.assessment, report, http_info, authority.result())
            except Exception as err:  # noqa: BLE001 - the judgement's last resort
                failure = report.stopped("judgement", err)
        report.details["reason"] = failure.reason or ""
        return report.finish(failure.verdict, failure.detail, http=http_info)

    async def _judge(
        self, ders: list[bytes], trust: TrustStore, report: _Report
    ) -> _StepFailedError | None:
        """Judge the served chain in the executor, and keep the assessment in the report.

        A hostile chain costs more CPU than the loop may spend. Returns the failure of a bug.
        """
        try:
            report.assessment = await asyncio.get_running_loop().run_in_executor(
                None, assess, ders, trust, report.target, report.checked_at
            )
        except Exception as err:  # noqa: BLE001 - the judgement's last resort
            return report.stopped("judgement", err)
        return None

    async def _authority(
        self,
        assessment: Assessment | None,
        trust: TrustStore,
        options: ProbeOptions,
        report: _Report,
    ) -> _Authority:
        """Revocation and renewal information of the chain, in parallel, each within budget."""
        try:
            return await self._asked(assessment, trust, options, report.checked_at)
        except Exception as err:  # noqa: BLE001 - the CA's answers' last resort
            report.note(report.unexpected("authority", err))
            return _Authority()

    async def _asked(
        self,
        assessment: Assessment | None,
        trust: TrustStore,
        options: ProbeOptions,
        now: datetime,
    ) -> _Authority:
        if assessment is None or assessment.leaf is None:
            return _Authority()
        budget = options.timeout
        path, leaf = assessment.path, assessment.leaf

        async def revocation() -> tuple[RevocationStatus | None, tuple[RevocationStatus, ...]]:
            if not options.check_revocation:
                return None, ()
            return await self._revocation.check(path, leaf, now, budget)

        async def renewal_info() -> RenewalInfo | None:
            # Only for a validated chain: the CA's word is about the certificate it issued.
            if not options.check_renewal_info or len(path) < 2:  # noqa: PLR2004
                return None
            context = await self._https_context(trust)
            return await self._renewal.check(path[0], options.acme_directory, context, now, budget)

        (status, statuses), info = await asyncio.gather(revocation(), renewal_info())
        return _Authority(status, statuses, info)

    async def _https_context(self, trust: TrustStore) -> ssl.SSLContext:
        """Return a verifying client context trusting `trust`, built once in the executor."""
        key = trust.fingerprints
        if (context := self._https.get(key)) is None:
            context = await asyncio.get_running_loop().run_in_executor(
                None, _verifying_context, trust
            )
            self._https[key] = context
            while len(self._https) > CA_CACHE_SIZE + 1:
                self._https.popitem(last=False)
        return context

    async def _tls_session(
        self,
        context: ssl.SSLContext,
        address: Address,
        report: _Report,
        budget: float,
        use: Callable[[TlsStream], Awaitable[None]] | None = None,
    ) -> float:
        """Connect, upgrade and handshake, then `use` the stream, all within budget; always closes.

        Then say goodbye, capped on its own: a server slow to say it changes nothing. Returns the
        milliseconds up to the end of the handshake.
        """
        started = time.perf_counter()
        protocol = report.target.protocol
        async with asyncio.timeout(budget):
            sock = await open_tcp(*address)
            try:
                await protocols.upgrade(protocol, Conversation(PlainStream(sock)), sock)
                stream = TlsStream(sock, context, report.target.sni)
            except BaseException:
                sock.close()
                raise
            try:
                await stream.handshake()
                took = _ms(started)
                if use is not None:
                    await use(stream)
            except BaseException:
                stream.close()
                raise
        await _goodbye(stream, protocol, budget, report)
        return took

    async def _served_at(
        self, address: Address, target: Target, budget: float, report: _Report
    ) -> _Served:
        """Connect to one more address of the name and take the chain it serves."""
        ders: list[bytes] = []

        async def take_chain(stream: TlsStream) -> None:
            ders.extend(_chain_bytes(stream.ssl_object))

        context = self._contexts.main if target.protocol.spec.http else self._contexts.bare
        try:
            tls_ms = await self._tls_session(context, address, report, budget, take_chain)
        except Exception as err:  # noqa: BLE001 - each kind becomes the address's verdict
            return _Served(address, failure=_session_failure(address, budget, err, report))
        return _Served(address, ders=ders, tls_ms=tls_ms)

    async def _scan_legacy(
        self, address: Address, budget: float, report: _Report, *, tls1_3: bool | None
    ) -> ProtocolSupport:
        """TLS 1.0 and 1.1 handshakes in parallel: True accepted, False refused, None unknown."""

        async def accepts(context: ssl.SSLContext) -> bool | None:
            try:
                await self._tls_session(context, address, report, budget)
            except ssl.SSLError, HandshakeEOFError, ConnectionResetError, BrokenPipeError:
                return False
            except OSError, TimeoutError, StepError:
                return None
            except Exception as err:  # noqa: BLE001 - the legacy scan's last resort
                report.note(report.unexpected("legacy", err))
                return None
            return True

        tls1_0, tls1_1 = await asyncio.gather(
            accepts(self._contexts.tls1_0), accepts(self._contexts.tls1_1)
        )
        return ProtocolSupport(tls1_0=tls1_0, tls1_1=tls1_1, tls1_3=tls1_3)

    async def _http(
        self, stream: TlsStream, address: Address, report: _Report, budget: float
    ) -> tuple[HttpInfo, float | None]:
        """GET / over HTTPS: on this connection, or a second HTTP/1.1-only one after h2."""
        target = report.target
        host_value = http.host_header(target.expected_name, target.port, HTTPS_PORT)
        if report.alpn not in (None, "http/1.1"):
            stream.close()
            return await self._http_fallback(address, report, host_value, budget)
        try:
            async with asyncio.timeout(budget):
                head = await http.exchange(stream, host_value)
            return _http_info(head), head.first_byte_ms
        except TimeoutError:
            return HttpInfo(error=f"no complete HTTP answer within {budget:g} s"), None
        except http.HttpError as err:
            return HttpInfo(error=str(err)), None
        except (ssl.SSLError, OSError) as err:
            return HttpInfo(error=f"HTTP request failed: {err}"), None
        except Exception as err:  # noqa: BLE001 - the HTTP request's last resort
            return HttpInfo(error=report.unexpected("http", err)), None
        finally:
            stream.close()

    async def _http_fallback(
        self, address: Address, report: _Report, host_value: str, budget: float
    ) -> tuple[HttpInfo, float | None]:
        result: list[http.ResponseHead] = []

        async def get(stream: TlsStream) -> None:
            result.append(await http.exchange(stream, host_value))

        only_h2 = "server speaks only HTTP/2"
        try:
            await self._tls_session(self._contexts.http1, address, report, budget, get)
            return _http_info(result[0]), result[0].first_byte_ms
        except TimeoutError:
            return HttpInfo(error=f"{only_h2}? no HTTP/1.1 answer within {budget:g} s"), None
        except http.HttpError as err:
            return HttpInfo(error=f"{only_h2} (HTTP/1.1 request: {err})"), None
        except ssl.SSLError as err:
            return HttpInfo(error=f"{only_h2} (HTTP/1.1 refused: {_ssl_reason(err)})"), None
        except OSError as err:
            return HttpInfo(error=f"{only_h2}? HTTP/1.1 connection failed: {err}"), None
        except Exception as err:  # noqa: BLE001 - the HTTP request's last resort
            return HttpInfo(error=report.unexpected("http", err)), None

    async def _redirect(
        self, address: Address, report: _Report, budget: float, http_port: int
    ) -> bool | None:
        """Whether plain http:// on http_port redirects to https://; None when unreachable."""
        family, sockaddr = address
        plain_addr: SockAddr = (sockaddr[0], http_port, *sockaddr[2:])
        host_value = http.host_header(report.target.expected_name, http_port, HTTP_PORT)
        try:
            async with asyncio.timeout(budget):
                stream: Stream = PlainStream(await open_tcp(family, plain_addr))
                try:
                    head = await http.exchange(stream, host_value)
                finally:
                    stream.close()
            return http.redirects_to_https(head)
        except OSError, TimeoutError, http.HttpError:
            return None
        except Exception as err:  # noqa: BLE001 - the redirect check's last resort
            report.note(report.unexpected("redirect", err))
            return None


async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
    """Every A and AAAA record of host, as getaddrinfo gives them."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _interleaved(addresses: list[Address]) -> list[Address]:
    """Alternate address families, the first one given first (RFC 8305, section 4)."""
    first = [address for address in addresses if address[0] == addresses[0][0]]
    rest = [address for address in addresses if address[0] != addresses[0][0]]
    mixed: list[Address] = []
    for index in range(max(len(first), len(rest))):
        mixed += first[index : index + 1] + rest[index : index + 1]
    return mixed


async def _race(
    addresses: list[Address],
) -> tuple[socket.socket | None, Address | None, _StepFailedError | None]:
    """Connect to one address after the other, overlapping: the first to connect wins.

    The next attempt starts after CONNECT_DELAY or as soon as one fails; the others are cancelled
    or closed. Returns the socket and its address, or the failure of the last attempt that failed.
    """
    attempts: dict[asyncio.Task[socket.socket], Address] = {}
    waiting = list(addresses)
    failure: _StepFailedError | None = None
    try:
        while waiting or attempts:
            if waiting:
                address = waiting.pop(0)
                attempts[asyncio.create_task(open_tcp(*address))] = address
            done, _ = await asyncio.wait(
                attempts, timeout=CONNECT_DELAY if waiting else None, return_when="FIRST_COMPLETED"
            )
            for task in done:
                address = attempts.pop(task)
                if (error := task.exception()) is None:
                    return task.result(), address, None
                failure = _connect_failure(address, error)
    finally:
        for task in attempts:
            task.cancel()
        for result in await asyncio.gather(*attempts, return_exceptions=True):
            if isinstance(result, socket.socket):
                result.close()
    return None, None, failure


def _session_failure(
    address: Address, budget: float, err: Exception, report: _Report
) -> _StepFailedError:
    """Why another address of the name served no certificate."""
    where = _where(address)
    if isinstance(err, StepError):
        verdict = (
            Verdict.STARTTLS_NOT_OFFERED
            if err.kind == StepError.NOT_OFFERED
            else Verdict.HANDSHAKE_FAILED
        )
        return _StepFailedError(verdict, f"{where}: {err.detail}")
    if isinstance(err, TimeoutError):
        detail = f"{where} did not complete a TLS handshake within {budget:g} s"
        return _StepFailedError(Verdict.TIMEOUT, detail)
    if isinstance(err, ConnectionRefusedError):
        return _StepFailedError(Verdict.CONNECTION_REFUSED, f"{where} refused the connection")
    if isinstance(err, ssl.SSLError | HandshakeEOFError | ConnectionResetError):
        reason = _ssl_reason(err) if isinstance(err, ssl.SSLError) else str(err)
        return _StepFailedError(
            Verdict.HANDSHAKE_FAILED, f"TLS handshake with {where} failed ({reason})"
        )
    if isinstance(err, OSError):
        return _network_error(where, err)
    # the other addresses' last resort
    return _StepFailedError(
        Verdict.HANDSHAKE_FAILED, f"{where}: {report.unexpected('addresses', err)}"
    )


def _connect_failure(address: Address, error: BaseException) -> _StepFailedError:
    where = _where(address)
    if isinstance(error, ConnectionRefusedError):
        return _StepFailedError(
            Verdict.CONNECTION_REFUSED,
            f"{where} refused the connection: nothing listens on port {address[1][1]}",
        )
    if isinstance(error, OSError):
        return _network_error(where, error)
    raise error


@dataclass(frozen=True, slots=True)
class _Served:
    """What one more address of the name served: its chain (DER), or why it did not."""

    address: Address
    ders: list[bytes] | None = None
    failure: _StepFailedError | None = None
    tls_ms: float | None = None


@dataclass(frozen=True, slots=True)
class _Checked:
    """One address checked: its outcome, and the chain and judgement behind it."""

    check: AddressCheck
    ders: list[bytes] | None = None
    assessment: Assessment | None = None


def _reported(
    main: ProbeReport,
    report: _Report,
    checked: list[_Checked],
    worst: _Checked | None,
    authority: _Authority | None,
) -> ProbeReport:
    """Describe the certificate of the worst address; keep the connection's own facts.

    Timings, TLS version and the HTTP answer stay those of the main connection; what the CA
    says (`authority`) is of the worst address's chain when it is not the main one's.
    """
    if worst is None:
        return replace(main, addresses=tuple(item.check for item in checked))
    checks = tuple(replace(item.check, reported=item is worst) for item in checked)
    result = main
    if worst.ders != report.served:
        rest = {key: value for key, value in report.details.items() if key in _PROBE_WIDE}
        result = _finish(worst.assessment, replace(report, details=rest), main.http, authority)
    served = [item for item in checked if item.check.verdict.reached_tls]
    if len({item.check.sha256 for item in served}) > 1:
        # The addresses disagree: say which one this is about.
        result = replace(result, detail=f"{bracketed(worst.check.address)}: {result.detail}")
    return replace(result, addresses=checks)


def _worst(checked: list[_Checked]) -> _Checked | None:
    """Return the address whose certificate the report describes.

    Of the addresses that served one: the worst verdict, then the first expiry, then the lowest
    address.
    """
    return min(
        (item for item in checked if item.check.verdict.reached_tls), key=_badness, default=None
    )


def _badness(item: _Checked) -> tuple[int, datetime, tuple[int, int, str]]:
    check = item.check
    rank = _WORST_FIRST.index(check.verdict) if check.verdict in _WORST_FIRST else 0
    expiry = check.not_after or datetime.max.replace(tzinfo=UTC)
    try:
        ip = ipaddress.ip_address(check.address)
    except ValueError:
        return rank, expiry, (9, 0, check.address)
    return rank, expiry, (ip.version, int(ip), check.address)


async def _address_checks(
    main: ProbeReport, report: _Report, others: list[_Served], trust: TrustStore
) -> list[_Checked]:
    """Return the main connection's outcome, then each other address's, judged alike.

    A chain identical to the main one has its judgement; only a different chain is judged anew
    (in the executor, as the main one).
    """
    main_ders = report.served
    lifetime = main.lifetime
    first = AddressCheck(
        address=main.address or "",
        verdict=main.verdict,
        detail=main.detail,
        main=True,
        sha256=main.leaf.sha256 if main.leaf else None,
        not_before=lifetime.not_before if lifetime else None,
        not_after=lifetime.not_after if lifetime else None,
        tls_ms=main.timings.tls_ms,
    )
    loop = asyncio.get_running_loop()
    differing = [served for served in others if served.ders and served.ders != main_ders]
    assessments = await asyncio.gather(
        *(
            loop.run_in_executor(
                None, assess, served.ders or [], trust, main.target, main.checked_at
            )
            for served in differing
        )
    )
    assessed = {id(served): found for served, found in zip(differing, assessments, strict=True)}
    checked = [_Checked(first, main_ders, report.assessment)]
    for served in others:
        address = served.address[1][0]
        if id(served) in assessed:
            found = assessed[id(served)]
            check = _judged_address(address, served, found)
            checked.append(_Checked(check, served.ders, found))
        elif served.ders and served.ders == main_ders:
            check = replace(first, address=address, main=False, tls_ms=served.tls_ms)
            checked.append(_Checked(check, served.ders, report.assessment))
        else:
            failure = served.failure
            verdict = failure.verdict if failure else Verdict.HANDSHAKE_FAILED
            detail = failure.detail if failure else "server sent no certificate"
            checked.append(_Checked(AddressCheck(address=address, verdict=verdict, detail=detail)))
    return checked


def _judged_address(address: str, served: _Served, assessment: Assessment | None) -> AddressCheck:
    if assessment is None:
        return AddressCheck(
            address=address,
            verdict=Verdict.HANDSHAKE_FAILED,
            detail="server sent no certificate",
            tls_ms=served.tls_ms,
        )
    judgement = assessment.judgement
    chain = assessment.chain
    first = min(chain, key=lambda info: info.not_after) if chain else None
    return AddressCheck(
        address=address,
        verdict=judgement.verdict,
        detail=judgement.detail,
        sha256=chain[0].sha256 if chain else None,
        not_before=first.not_before if first else None,
        not_after=first.not_after if first else None,
        tls_ms=served.tls_ms,
    )


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[Address]:
    """IPv4 and IPv6 addresses in order, once each, in linear time (a name may have thousands)."""
    seen: dict[Address, None] = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen.setdefault((socket.AddressFamily(family), sockaddr), None)
    return list(seen)


async def _goodbye(
    stream: TlsStream, protocol: AppProtocol, budget: float, report: _Report
) -> None:
    """End the session as the protocol expects, then close; the verdict does not depend on it."""
    try:
        async with asyncio.timeout(min(budget, GOODBYE_TIMEOUT)):
            await protocols.goodbye(protocol, Conversation(stream))
    except StepError, ssl.SSLError, OSError, TimeoutError:
        pass
    except Exception as err:  # noqa: BLE001 - the goodbye's last resort
        report.note(report.unexpected("goodbye", err))
    finally:
        stream.close()


def _plain_text_answer(stream: TlsStream, protocol: AppProtocol) -> bool:
    """Tell whether a protocol that starts with TLS was answered by a plain-text greeting."""
    spec = protocol.spec
    return not spec.http and not spec.starttls and protocols.plain_greeting(stream.first_bytes)


def _plaintext_on_tls_port(stream: TlsStream, protocol: AppProtocol) -> _StepFailedError:
    shown = protocols.printable(stream.first_bytes)
    return _StepFailedError(
        Verdict.PLAINTEXT_ON_TLS_PORT,
        f"the server answered in plain text ({shown!r}) where {protocol.spec.label} "
        "starts with a TLS handshake: is the port or the scheme wrong?",
        shown.strip(),  # the server's own first words
    )


def _where(address: Address) -> str:
    return f"{bracketed(address[1][0])}:{address[1][1]}"


def _network_error(where: str, err: OSError) -> _StepFailedError:
    reason = err.strerror or str(err)
    if err.errno in _UNREACHABLE_ERRNOS:
        return _StepFailedError(Verdict.NETWORK_UNREACHABLE, f"{where} is unreachable ({reason})")
    return _StepFailedError(Verdict.NETWORK_UNREACHABLE, f"connecting to {where} failed ({reason})")


def _handshake_error(stream: TlsStream, err: BaseException) -> _StepFailedError:
    plain = stream.first_bytes.startswith(b"HTTP/")
    if isinstance(err, ssl.SSLError):
        reason = _ssl_reason(err)
        if plain:
            detail = f"{_PLAIN_HTTP_DETAIL} ({reason}); is the port or the scheme wrong?"
        elif hint := _REASON_HINTS.get(reason):
            detail = f"TLS handshake failed: {hint} ({reason})"
        else:
            detail = f"TLS handshake failed ({reason})"
        return _StepFailedError(Verdict.HANDSHAKE_FAILED, detail, reason)
    if plain:
        return _StepFailedError(Verdict.HANDSHAKE_FAILED, _PLAIN_HTTP_DETAIL, "plain http")
    if isinstance(err, HandshakeEOFError):
        return _StepFailedError(
            Verdict.HANDSHAKE_FAILED,
            "the server closed the connection during the TLS handshake",
            "connection closed",
        )
    if isinstance(err, ConnectionResetError):
        return _StepFailedError(
            Verdict.HANDSHAKE_FAILED,
            "the server reset the connection during the TLS handshake",
            "connection reset",
        )
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return _StepFailedError(
        Verdict.HANDSHAKE_FAILED, f"the connection failed during the TLS handshake ({reason})"
    )


def _legacy_hint(detail: str, protocols: ProtocolSupport) -> str:
    versions = [name for name, ok in (("1.0", protocols.tls1_0), ("1.1", protocols.tls1_1)) if ok]
    if not versions:
        return detail
    return f"{detail}; it accepts only obsolete TLS {' and '.join(versions)}"


def _chain_bytes(ssl_object: ssl.SSLObject) -> list[bytes]:
    """Return the chain exactly as served, as DER (3.13 gave certificate objects)."""
    chain: list[Any] = list(ssl_object.get_unverified_chain() or [])
    return [
        bytes(cert) if isinstance(cert, bytes | bytearray) else cert.public_bytes(_DER)
        for cert in chain
    ]


def _http_info(head: http.ResponseHead) -> HttpInfo:
    hsts = head.headers.get("strict-transport-security")
    return HttpInfo(
        status=head.status,
        hsts=hsts is not None,
        hsts_max_age=http.hsts_max_age(hsts) if hsts is not None else None,
    )
