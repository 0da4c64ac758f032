"""Application protocols around the TLS handshake: STARTTLS upgrades and clean goodbyes.

Each conversation is short and bounded: at most MAX_LINE bytes per line, MAX_LINES lines per
answer, and nothing that needs credentials. The caller bounds the time of each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import re
import socket
from typing import Final

from . import der
from .connection import READ_SIZE, Stream
from .inert import inert

MAX_LINE: Final = 4096
MAX_LINES: Final = 100
MAX_LDAP_MESSAGE: Final = 16384
MAX_WORD: Final = 32  # a server's status word, as a reason shows it
# resultCode is an ENUMERATED of at most 32 bits (RFC 4511 section 4.1.9).
MAX_LDAP_RESULT_OCTETS: Final = 4


class AppProtocol(StrEnum):
    """What is spoken around TLS; the value is the URL scheme."""

    HTTPS = "https"
    TLS = "tls"
    MQTTS = "mqtts"
    SMTPS = "smtps"
    SMTP = "smtp"
    IMAPS = "imaps"
    IMAP = "imap"
    POP3S = "pop3s"
    POP3 = "pop3"
    LDAPS = "ldaps"
    LDAP = "ldap"
    POSTGRES = "postgres"

    @property
    def spec(self) -> ProtocolSpec:
        """How this protocol is probed."""
        return SPECS[self]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolSpec:
    """Default port, whether TLS starts after a plain exchange, and the default extra checks."""

    port: int
    label: str
    starttls: bool = False
    http: bool = False
    # TLS 1.0/1.1 attempts make many servers log an error each time: on only for HTTPS.
    scan_legacy: bool = False


SPECS: Final[Mapping[AppProtocol, ProtocolSpec]] = {
    AppProtocol.HTTPS: ProtocolSpec(port=443, label="HTTPS", http=True, scan_legacy=True),
    AppProtocol.TLS: ProtocolSpec(port=443, label="TLS"),
    AppProtocol.MQTTS: ProtocolSpec(port=8883, label="MQTT over TLS"),
    AppProtocol.SMTPS: ProtocolSpec(port=465, label="SMTP over TLS"),
    AppProtocol.SMTP: ProtocolSpec(port=587, label="SMTP with STARTTLS", starttls=True),
    AppProtocol.IMAPS: ProtocolSpec(port=993, label="IMAP over TLS"),
    AppProtocol.IMAP: ProtocolSpec(port=143, label="IMAP with STARTTLS", starttls=True),
    AppProtocol.POP3S: ProtocolSpec(port=995, label="POP3 over TLS"),
    AppProtocol.POP3: ProtocolSpec(port=110, label="POP3 with STLS", starttls=True),
    AppProtocol.LDAPS: ProtocolSpec(port=636, label="LDAP over TLS"),
    AppProtocol.LDAP: ProtocolSpec(port=389, label="LDAP with StartTLS", starttls=True),
    AppProtocol.POSTGRES: ProtocolSpec(port=5432, label="PostgreSQL", starttls=True),
}
# A bare host:port on one of these ports speaks that protocol (25 is SMTP too).
WELL_KNOWN_PORTS: Final[Mapping[int, AppProtocol]] = {
    **{spec.port: protocol for protocol, spec in SPECS.items() if protocol is not AppProtocol.TLS},
    25: AppProtocol.SMTP,
}
# First bytes of a plain-text greeting, by what answers on a port that should speak TLS first.
_PLAIN_GREETINGS: Final = re.compile(rb"(220[ -]|\* OK|\* PREAUTH|\+OK|HTTP/)")


class StepError(Exception):
    """The conversation before or after TLS went wrong; `kind` says how."""

    NOT_OFFERED = "not_offered"  # the server speaks the protocol but offers no TLS upgrade
    FAILED = "failed"  # the server did not speak the protocol as expected

    def __init__(self, kind: str, detail: str, reason: str = "protocol_error") -> None:
        """Keep the kind, the sentence, and a short reason in the protocol's own words."""
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.reason = reason


def plain_greeting(first_bytes: bytes) -> bool:
    """Whether a server answered in plain text where a TLS handshake was expected."""
    return _PLAIN_GREETINGS.match(first_bytes) is not None


def printable(data: bytes, limit: int = 60) -> str:
    """Return an inert, short form of what a server sent, for a detail text."""
    return inert(data[: limit * 4].decode("ascii", "replace"), limit)


class Conversation:
    """Line and byte reads over a stream, every read bounded; remembers unread bytes."""

    def __init__(self, stream: Stream) -> None:
        """Talk over stream (owned by the caller)."""
        self._stream = stream
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Whether the server sent bytes not read yet."""
        return bool(self._buffer)

    async def send(self, data: bytes) -> None:
        """Send a command."""
        await self._stream.send(data)

    async def _fill(self) -> None:
        chunk = await self._stream.recv()
        if not chunk:
            raise StepError(StepError.FAILED, "the server closed the connection")
        self._buffer += chunk[:READ_SIZE]

    async def line(self) -> str:
        """One line without its end, decoded inertly; at most MAX_LINE bytes."""
        while (end := self._buffer.find(b"\n", 0, MAX_LINE)) < 0:
            if len(self._buffer) >= MAX_LINE:
                raise StepError(StepError.FAILED, f"a line longer than {MAX_LINE} bytes")
            await self._fill()
        raw = bytes(self._buffer[:end]).rstrip(b"\r")
        del self._buffer[: end + 1]
        return raw.decode("ascii", "replace")

    async def exact(self, size: int) -> bytes:
        """Exactly size bytes."""
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


# -- SMTP -----------------------------------------------------------------------------------


async def _smtp_reply(talk: Conversation) -> tuple[int, list[str]]:
    """Read a (multi-line) SMTP reply: its code and the text of each line."""
    texts: list[str] = []
    for _ in range(MAX_LINES):
        line = await talk.line()
        if len(line) < 3 or not (line[:3].isascii() and line[:3].isdigit()):  # noqa: PLR2004
            raise StepError(StepError.FAILED, f"not an SMTP reply: {printable(line.encode())!r}")
        texts.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), texts
    raise StepError(StepError.FAILED, f"an SMTP reply longer than {MAX_LINES} lines")


def _helo_name(sock: socket.socket) -> str:
    """Return the client's own address as an SMTP address literal (RFC 5321 4.1.3)."""
    try:
        host = str(sock.getsockname()[0])
    except OSError:
        return "[127.0.0.1]"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


async def smtp_starttls(talk: Conversation, sock: socket.socket) -> None:
    """Greeting, EHLO, STARTTLS; QUIT when STARTTLS is not offered."""
    code, texts = await _smtp_reply(talk)
    if code != 220:  # noqa: PLR2004
        raise StepError(StepError.FAILED, f"the SMTP server refused the session: {code}")
    await talk.send(f"EHLO {_helo_name(sock)}\r\n".encode("ascii"))
    code, texts = await _smtp_reply(talk)
    if code != 250:  # noqa: PLR2004
        raise StepError(StepError.FAILED, f"the SMTP server refused EHLO: {code}")
    if not any(text.split(" ", 1)[0].upper() == "STARTTLS" for text in texts[1:]):
        await _smtp_quit(talk)
        raise StepError(
            StepError.NOT_OFFERED, "the SMTP server does not offer STARTTLS", "EHLO: no STARTTLS"
        )
    await talk.send(b"STARTTLS\r\n")
    code, texts = await _smtp_reply(talk)
    if code != 220:  # noqa: PLR2004
        await _smtp_quit(talk)
        raise StepError(
            StepError.NOT_OFFERED,
            f"the SMTP server refused STARTTLS ({code} {printable(texts[0].encode())})",
            f"STARTTLS: {code}",
        )


async def _smtp_quit(talk: Conversation) -> None:
    await talk.send(b"QUIT\r\n")
    await _smtp_reply(talk)


async def smtp_goodbye(talk: Conversation, *, greeted: bool) -> None:
    """QUIT over TLS; on direct TLS the greeting comes first."""
    if not greeted:
        await _smtp_reply(talk)
    await _smtp_quit(talk)


# -- IMAP -----------------------------------------------------------------------------------


async def _imap_tagged(talk: Conversation, tag: str) -> tuple[str, list[str]]:
    """Untagged lines until the tagged status; returns the status word and the untagged lines."""
    untagged: list[str] = []
    for _ in range(MAX_LINES):
        line = await talk.line()
        if line.startswith(f"{tag} "):
            return line[len(tag) + 1 :].split(" ", 1)[0].upper(), untagged
        untagged.append(line)
    raise StepError(StepError.FAILED, f"an IMAP answer longer than {MAX_LINES} lines")


async def _imap_greeting(talk: Conversation) -> str:
    line = await talk.line()
    if not line.startswith(("* OK", "* PREAUTH")):
        raise StepError(StepError.FAILED, f"not an IMAP greeting: {printable(line.encode())!r}")
    return line


async def imap_starttls(talk: Conversation) -> None:
    """Greeting, CAPABILITY, STARTTLS; LOGOUT when STARTTLS is not offered."""
    await _imap_greeting(talk)
    await talk.send(b"a1 CAPABILITY\r\n")
    status, lines = await _imap_tagged(talk, "a1")
    words = {
        word.upper() for line in lines if line.startswith("* CAPABILITY") for word in line.split()
    }
    if status != "OK" or "STARTTLS" not in words:
        await _imap_logout(talk, "a2")
        raise StepError(
            StepError.NOT_OFFERED,
            "the IMAP server does not offer STARTTLS",
            "CAPABILITY: no STARTTLS",
        )
    await talk.send(b"a2 STARTTLS\r\n")
    status, _ = await _imap_tagged(talk, "a2")
    if status != "OK":
        await _imap_logout(talk, "a3")
        raise StepError(
            StepError.NOT_OFFERED,
            "the IMAP server refused STARTTLS",
            f"STARTTLS: {inert(status, MAX_WORD)}",
        )


async def _imap_logout(talk: Conversation, tag: str) -> None:
    await talk.send(f"{tag} LOGOUT\r\n".encode("ascii"))
    await _imap_tagged(talk, tag)


async def imap_goodbye(talk: Conversation, *, greeted: bool) -> None:
    """LOGOUT over TLS; on direct TLS the greeting comes first."""
    if not greeted:
        await _imap_greeting(talk)
    await _imap_logout(talk, "z1")


# -- POP3 -----------------------------------------------------------------------------------


async def _pop3_status(talk: Conversation) -> bool:
    line = await talk.line()
    if line.startswith("+OK"):
        return True
    if line.startswith("-ERR"):
        return False
    raise StepError(StepError.FAILED, f"not a POP3 answer: {printable(line.encode())!r}")


async def pop3_starttls(talk: Conversation) -> None:
    """Greeting, CAPA, STLS; QUIT when STLS is not offered."""
    if not await _pop3_status(talk):
        raise StepError(StepError.FAILED, "the POP3 server refused the session")
    await talk.send(b"CAPA\r\n")
    offered = True  # a server without CAPA may still know STLS: ask
    if await _pop3_status(talk):
        capabilities = []
        for _ in range(MAX_LINES):
            if (line := await talk.line()) == ".":
                break
            capabilities.append(line.split(" ", 1)[0].upper())
        else:
            raise StepError(StepError.FAILED, f"a POP3 answer longer than {MAX_LINES} lines")
        offered = "STLS" in capabilities
    if offered:
        await talk.send(b"STLS\r\n")
        if await _pop3_status(talk):
            return
    await _pop3_quit(talk)
    raise StepError(
        StepError.NOT_OFFERED,
        "the POP3 server does not offer STLS",
        "STLS: -ERR" if offered else "CAPA: no STLS",
    )


async def _pop3_quit(talk: Conversation) -> None:
    await talk.send(b"QUIT\r\n")
    await _pop3_status(talk)


async def pop3_goodbye(talk: Conversation, *, greeted: bool) -> None:
    """QUIT over TLS; on direct TLS the greeting comes first."""
    if not greeted:
        await _pop3_status(talk)
    await _pop3_quit(talk)


# -- LDAP -----------------------------------------------------------------------------------

_STARTTLS_OID: Final = b"1.3.6.1.4.1.1466.20037"
_LDAP_RESULT_CODES: Final = {2: "protocolError", 52: "unavailable", 53: "unwillingToPerform"}


def _ldap_message(message_id: int, operation: bytes) -> bytes:
    return der.element(der.SEQUENCE, der.element(der.INTEGER, bytes([message_id])) + operation)


LDAP_STARTTLS_REQUEST: Final = _ldap_message(1, der.element(0x77, der.element(0x80, _STARTTLS_OID)))
LDAP_UNBIND: Final = _ldap_message(2, der.element(0x42, b""))


async def _ber_element(talk: Conversation) -> tuple[int, bytes]:
    """One BER element (tag, value) of at most MAX_LDAP_MESSAGE bytes."""
    tag, first = await talk.exact(2)
    if first < 0x80:  # noqa: PLR2004
        size = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 3:  # noqa: PLR2004
            raise StepError(StepError.FAILED, "not an LDAP answer (length)")
        size = int.from_bytes(await talk.exact(count), "big")
    if size > MAX_LDAP_MESSAGE:
        raise StepError(StepError.FAILED, f"an LDAP answer larger than {MAX_LDAP_MESSAGE} bytes")
    return tag, await talk.exact(size)


def _parse_ber(data: bytes) -> tuple[int, bytes, bytes]:
    """Split data into the first element's tag and value, and the rest."""
    if len(data) < 2:  # noqa: PLR2004
        raise StepError(StepError.FAILED, "not an LDAP answer (truncated)")
    tag, first = data[0], data[1]
    offset = 2
    if first >= 0x80:  # noqa: PLR2004
        count = first & 0x7F
        if not 1 <= count <= 3:  # noqa: PLR2004
            raise StepError(StepError.FAILED, "not an LDAP answer (length)")
        first = int.from_bytes(data[2 : 2 + count], "big")
        offset += count
    end = offset + first
    if end > len(data):
        raise StepError(StepError.FAILED, "not an LDAP answer (truncated)")
    return tag, data[offset:end], data[end:]


async def ldap_starttls(talk: Conversation) -> None:
    """Send the StartTLS extended operation; unbind when it is refused."""
    await talk.send(LDAP_STARTTLS_REQUEST)
    tag, message = await _ber_element(talk)
    if tag != 0x30:  # noqa: PLR2004
        raise StepError(StepError.FAILED, "not an LDAP answer")
    _, _message_id, rest = _parse_ber(message)
    operation, response, _ = _parse_ber(rest)
    if operation != 0x78:  # noqa: PLR2004 - ExtendedResponse
        raise StepError(StepError.FAILED, "the LDAP server did not answer the StartTLS request")
    result_tag, result, _ = _parse_ber(response)
    if result_tag != 0x0A or not 1 <= len(result) <= MAX_LDAP_RESULT_OCTETS:  # noqa: PLR2004
        raise StepError(StepError.FAILED, "not an LDAP result")
    code = int.from_bytes(result, "big")
    if code != 0:
        await talk.send(LDAP_UNBIND)
        name = _LDAP_RESULT_CODES.get(code, "error")
        raise StepError(
            StepError.NOT_OFFERED,
            f"the LDAP server refused StartTLS (result {code}, {name})",
            f"StartTLS: {code} {name}",
        )


async def ldap_goodbye(talk: Conversation, *, greeted: bool) -> None:  # noqa: ARG001
    """Unbind: the server answers nothing."""
    await talk.send(LDAP_UNBIND)


# -- PostgreSQL -----------------------------------------------------------------------------

POSTGRES_SSL_REQUEST: Final = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


async def postgres_starttls(talk: Conversation) -> None:
    """SSLRequest: `S` starts TLS, `N` means the server has TLS off."""
    await talk.send(POSTGRES_SSL_REQUEST)
    answer = await talk.exact(1)
    if answer == b"N":
        raise StepError(
            StepError.NOT_OFFERED,
            "the PostgreSQL server has TLS turned off (ssl = off)",
            "SSLRequest: N",
        )
    if answer != b"S":
        raise StepError(
            StepError.FAILED, f"not a PostgreSQL answer to SSLRequest: {printable(answer)!r}"
        )


async def upgrade(protocol: AppProtocol, talk: Conversation, sock: socket.socket) -> None:
    """Speak the plain part of a STARTTLS protocol until the server expects the handshake."""
    match protocol:
        case AppProtocol.SMTP:
            await smtp_starttls(talk, sock)
        case AppProtocol.IMAP:
            await imap_starttls(talk)
        case AppProtocol.POP3:
            await pop3_starttls(talk)
        case AppProtocol.LDAP:
            await ldap_starttls(talk)
        case AppProtocol.POSTGRES:
            await postgres_starttls(talk)
        case _:
            return
    if talk.pending:
        # Bytes sent before our handshake would be read as if they came over TLS.
        raise StepError(StepError.FAILED, "the server sent data after agreeing to start TLS")


async def goodbye(protocol: AppProtocol, talk: Conversation) -> None:
    """End the session over TLS the way the protocol expects (no error in the server's log)."""
    greeted = protocol.spec.starttls
    match protocol:
        case AppProtocol.SMTP | AppProtocol.SMTPS:
            await smtp_goodbye(talk, greeted=greeted)
        case AppProtocol.IMAP | AppProtocol.IMAPS:
            await imap_goodbye(talk, greeted=greeted)
        case AppProtocol.POP3 | AppProtocol.POP3S:
            await pop3_goodbye(talk, greeted=greeted)
        case AppProtocol.LDAP | AppProtocol.LDAPS:
            await ldap_goodbye(talk, greeted=greeted)
        case _:
            return
