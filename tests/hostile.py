"""A hostile server for fuzzing the probe engine, and the conversations it holds.

Every exchange the probe has with a server is answered from a template (a well-behaved server's
answer) with one part replaced by a hostile value, bytes mutated, or delivered badly: long
numbers, huge and empty lengths, deep nesting, NUL and control bytes, truncation at every byte,
slow drip, endless floods, resets. `conversations(family, seed)` yields the same cases for the
same seed: first each hostile value in each part of the answers and truncations of each answer
(every value in every answer and a cut at every byte when thorough), then random combinations.
`Fuzzer` runs them against a real Prober over loopback and checks each one: a report comes
back, nothing raises, no descriptor stays open, memory and event-loop time stay bounded, texts
from the server are inert, and no step of the probe needed its last-resort handler.

Used by tests/probe/test_fuzz.py (a fixed number of conversations) and bench/fuzz.py (many).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
import contextlib
from dataclasses import dataclass, field, replace
import gc
import itertools
import json
import logging
from pathlib import Path
import random
import socket
import struct
import time
import tracemalloc
from typing import Any, Literal

from custom_components.tls_health.probe import (
    AppProtocol,
    ProbeOptions,
    Prober,
    ProbeReport,
    Target,
    engine,
)

from .certs import Pki

HOST = "hostile.example.test"
ADDRESSES = ("127.0.0.1", "127.0.0.2")
# What each conversation may cost at most (the assertions of the fuzzer).
MAX_CALLBACK_CPU = 0.050  # seconds of CPU one event-loop callback may use
MAX_MEMORY = 4 * 1024 * 1024  # bytes a conversation may allocate at its peak (tracemalloc)
MAX_SECONDS = 10.0  # a conversation that takes longer hangs
# The probe's budgets while fuzzing: short, so that silent servers cost little.
BUDGET = 0.25
GOODBYE = 0.1
FLOOD_BYTES = 16 * 1024 * 1024
MAX_ANSWER = 256 * 1024  # an answer, however its parts multiply
CUTS = 8  # truncations of each answer, unless thorough
MAX_WRITES = 300  # writes of one answer sent piece by piece; the rest goes at once
PROBE_LOGGER = "custom_components.tls_health.probe"
FDS = Path("/proc/self/fd")

# -- hostile values -----------------------------------------------------------------------------

NUMBERS: tuple[bytes, ...] = (
    b"",
    b"0",
    b"-1",
    b"+1",
    b"1 ",
    b" 1",
    b"1e9",
    b"0x1F",
    b"1_000",
    b"9" * 10,
    b"9" * 20,
    b"9" * 4300,
    b"9" * 4301,
    b"1" * 5000,
    b"0" * 5000 + b"1",
    b"7" * 60000,
    b"\xb2\xb3\xb9",  # superscript digits in Latin-1
    "\u0661\u0662\u0663".encode(),  # Arabic-Indic digits in UTF-8
    b"\x00",
    b"1\x002",
)
TEXTS: tuple[bytes, ...] = (
    b"",
    b" ",
    b"\x00",
    b"\x00" * 100,
    b"\x1b[31mred\x1b[0m\x07\x08\x7f",
    b"\r",
    b"a\rb\x0bc\x0cd",
    b"`code` [link](https://evil.example)",
    "\u202egnp.exe\u200b".encode(),
    b"\xff\xfe\xfd\x80",
    b"\xc0\x80\xed\xa0\x80",
    b"%s%n{0}{title}",
    b"x" * 4095,
    b"x" * 4096,
    b"y" * 70000,
)
COUNTS: tuple[int, ...] = (0, 1, 2, 99, 100, 101, 1000, 5000)
LINE_ENDS: tuple[bytes, ...] = (b"\n", b"\r", b"\r\r\n", b"\n\r", b"")
# BER length octets: indefinite, long forms of every size, the largest values, zero.
BER_LENGTHS: tuple[bytes, ...] = (
    b"\x00",
    b"\x01",
    b"\x7f",
    b"\x80",
    b"\x81\x00",
    b"\x81\xff",
    b"\x82\x40\x01",
    b"\x83\xff\xff\xff",
    b"\x84\x00\x00\x00\x05",
    b"\x84\xff\xff\xff\xff",
    b"\x88" + b"\xff" * 8,
    b"\x8f" + b"\x01" * 15,
    b"\xff",
)
BER_VALUES: tuple[bytes, ...] = (
    b"",
    b"\x00",
    b"\xff",
    b"\x00" * 4,
    b"\x01" * 5,
    b"\x7f" * 20,
    b"\x00" * 2000,
    b"\x01" * 2000,
    b"\x34" * 16000,
)
BYTES: tuple[bytes, ...] = (b"", b"\x00", b"S", b"N", b"E", b"SS", b"NS", bytes(range(256)))


# -- what a well-behaved server says -----------------------------------------------------------


def _lines(lines: Iterable[bytes], end: bytes = b"\r\n") -> bytes:
    """The lines, each ended; no more than MAX_ANSWER bytes (floods go further)."""
    data = bytearray()
    for line in lines:
        data += line + end
        if len(data) > MAX_ANSWER:
            break
    return bytes(data[:MAX_ANSWER])


type Slots = dict[str, Any]
type Template = Callable[..., bytes]


def http_head(
    *,
    version: bytes = b"1.1",
    status: bytes = b"200",
    reason: bytes = b"OK",
    hsts: bytes = b"max-age=31536000; includeSubDomains",
    max_age: bytes | None = None,
    location: bytes = b"https://hostile.example.test/",
    headers: int = 3,
    header: bytes = b"value",
    name: bytes = b"X-Extra",
    end: bytes = b"\r\n",
) -> bytes:
    """A status line and headers, as GET / or the plain-HTTP redirect gets them."""
    if max_age is not None:
        hsts = b"max-age=" + max_age + b"; includeSubDomains"
    lines = itertools.chain(
        (
            b"HTTP/" + version + b" " + status + b" " + reason,
            b"Strict-Transport-Security: " + hsts,
            b"Location: " + location,
            b"Content-Length: 0",
        ),
        (name + b"-" + str(index).encode() + b": " + header for index in range(headers)),
    )
    return _lines(lines, end=end) + end


def smtp_reply(
    *,
    code: bytes = b"250",
    text: bytes = b"mail.hostile.example.test",
    separator: bytes = b"-",
    lines: int = 2,
    last: bytes = b"STARTTLS",
    end: bytes = b"\r\n",
) -> bytes:
    """A multi-line SMTP reply: `lines` continuation lines, then the last one."""
    body = itertools.repeat(code + separator + text, lines)
    return _lines(itertools.chain(body, (code + b" " + last,)), end=end)


def imap_answer(
    *,
    untagged: int = 1,
    line: bytes = b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED",
    tag: bytes = b"a1",
    status: bytes = b"OK",
    text: bytes = b"done",
    end: bytes = b"\r\n",
) -> bytes:
    """Untagged lines, then the tagged status."""
    tagged = tag + b" " + status + b" " + text
    return _lines(itertools.chain(itertools.repeat(line, untagged), (tagged,)), end=end)


def pop3_answer(
    *,
    status: bytes = b"+OK",
    text: bytes = b"ready",
    lines: int = 0,
    line: bytes = b"STLS",
    dot: bytes = b".",
    end: bytes = b"\r\n",
) -> bytes:
    """A status line, then `lines` lines ended by a dot when there are any."""
    body = (status + b" " + text, *itertools.repeat(line, lines), *((dot,) if lines else ()))
    return _lines(body, end=end)


def ber_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def ber(tag: int, value: bytes, length: bytes | None = None) -> bytes:
    return bytes([tag]) + (ber_length(len(value)) if length is None else length) + value


def ldap_response(
    *,
    code: bytes = b"\x00",
    message_id: bytes = b"\x01",
    outer_tag: int = 0x30,
    operation_tag: int = 0x78,
    result_tag: int = 0x0A,
    outer_length: bytes | None = None,
    operation_length: bytes | None = None,
    result_length: bytes | None = None,
    nesting: int = 0,
    trailing: bytes = b"",
) -> bytes:
    """The ExtendedResponse to StartTLS: resultCode, matchedDN and diagnosticMessage."""
    result = ber(result_tag, code, result_length) + ber(0x04, b"") + ber(0x04, b"")
    operation = ber(operation_tag, result, operation_length)
    for _ in range(nesting):
        operation = ber(0x30, operation)
    return ber(outer_tag, ber(0x02, message_id) + operation, outer_length) + trailing


def postgres_answer(*, answer: bytes = b"S") -> bytes:
    return answer


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the server in an exchange: its template, and its hostile variants by part."""

    name: str
    template: Template
    slots: Slots = field(default_factory=dict)  # the well-behaved values
    variants: tuple[tuple[str, Sequence[Any]], ...] = ()

    def build(self, **changes: Any) -> bytes:
        return self.template(**{**self.slots, **changes})


@dataclass(frozen=True, slots=True)
class Exchange:
    """What a server says, answer by answer; `tls_at` answers come before the handshake."""

    protocol: AppProtocol
    answers: tuple[Answer, ...]
    tls_at: int = 0
    greets: tuple[bool, bool] = (False, False)  # the server speaks first: before / after TLS
    redirect: Answer | None = None
    tls: bool = True  # False: the server refuses to start TLS


_HTTP_PARTS: tuple[tuple[str, Sequence[Any]], ...] = (
    ("version", (*NUMBERS, b"1.1.1", b"2")),
    ("status", (*NUMBERS, b"999", b"099", b"30")),
    ("reason", TEXTS),
    ("max_age", (*NUMBERS, b'"' + b"9" * 5000 + b'"')),
    ("hsts", (*TEXTS, b"max-age=1;" * 5000, b";" * 60000, b"max-age=" + b" " * 60000)),
    ("location", (*TEXTS, b"https://" + b"a" * 70000, b"HTTPS://x", b"\x00https://x")),
    ("headers", COUNTS),
    ("header", TEXTS),
    ("name", (b"", b" ", b":", b"\x00", b"x" * 70000, b"Strict-Transport-Security")),
    ("end", LINE_ENDS),
)
_SMTP_PARTS: tuple[tuple[str, Sequence[Any]], ...] = (
    ("code", NUMBERS),
    ("text", TEXTS),
    ("separator", (b"", b" ", b"\t", b"x", b"\x00", b"--")),
    ("lines", COUNTS),
    ("last", (*TEXTS, b"starttls", b"STARTTLS " + b"x" * 5000)),
    ("end", LINE_ENDS),
)
_IMAP_PARTS: tuple[tuple[str, Sequence[Any]], ...] = (
    ("untagged", COUNTS),
    ("line", (*TEXTS, b"* CAPABILITY " + b"STARTTLS " * 1000)),
    ("tag", (b"", b"*", b"a", b"a1a1", b"z" * 5000, b"\x00a1")),
    ("status", (*TEXTS, b"ok", b"NO", b"BAD")),
    ("text", TEXTS),
    ("end", LINE_ENDS),
)
_POP3_PARTS: tuple[tuple[str, Sequence[Any]], ...] = (
    ("status", (b"", b"-ERR", b"+ok", b"+OK" * 2000, *TEXTS[:8])),
    ("text", TEXTS),
    ("lines", COUNTS),
    ("line", TEXTS),
    ("dot", (b"", b"..", b". ", b"\x00")),
    ("end", LINE_ENDS),
)
_LDAP_PARTS: tuple[tuple[str, Sequence[Any]], ...] = (
    ("code", BER_VALUES),
    ("message_id", BER_VALUES),
    ("outer_tag", (0x00, 0x1F, 0x31, 0x78, 0xFF)),
    ("operation_tag", (0x00, 0x30, 0x65, 0x7F, 0xFF)),
    ("result_tag", (0x00, 0x02, 0x04, 0x1F, 0xFF)),
    ("outer_length", BER_LENGTHS),
    ("operation_length", BER_LENGTHS),
    ("result_length", BER_LENGTHS),
    ("nesting", (1, 2, 100, 1000)),
    ("trailing", (b"\x00", b"\x30\x00", b"x" * 70000)),
)

_HTTP = Answer("http", http_head, {}, _HTTP_PARTS)
_REDIRECT = Answer("redirect", http_head, {"status": b"301"})
# The same parser as GET /'s: the parts that decide a redirect.
_REDIRECT_PARTS = tuple(item for item in _HTTP_PARTS if item[0] in {"status", "location", "end"})


type Kind = Literal["starttls", "direct", "refused"]


def _fuzzed(*answers: Answer, parts: tuple[tuple[str, Sequence[Any]], ...]) -> tuple[Answer, ...]:
    return tuple(replace(answer, variants=parts) for answer in answers)


def _smtp_answers(kind: Kind) -> tuple[Answer, ...]:
    """Greeting, EHLO, STARTTLS, QUIT; with direct TLS the greeting and QUIT only."""
    greeting = Answer("greeting", smtp_reply, {"code": b"220", "lines": 0, "last": b"ESMTP"})
    quit_ = Answer("quit", smtp_reply, {"code": b"221", "lines": 0, "last": b"bye"})
    ehlo = Answer("ehlo", smtp_reply, {})
    go = Answer("starttls", smtp_reply, {"code": b"220", "lines": 0, "last": b"go ahead"})
    refused = Answer("refusal", smtp_reply, {"code": b"454", "lines": 0, "last": b"not now"})
    match kind:
        case "direct":
            return _fuzzed(greeting, quit_, parts=_SMTP_PARTS)
        case "refused":
            return _fuzzed(greeting, ehlo, refused, quit_, parts=_SMTP_PARTS)
    return _fuzzed(greeting, ehlo, go, quit_, parts=_SMTP_PARTS)


def _imap_answers(kind: Kind) -> tuple[Answer, ...]:
    """Greeting, CAPABILITY, STARTTLS, LOGOUT; with direct TLS the greeting and LOGOUT only."""
    greeting = Answer(
        "greeting", imap_answer, {"untagged": 0, "tag": b"*", "text": b"[CAPABILITY] ready"}
    )
    logout = Answer("logout", imap_answer, {"line": b"* BYE bye", "tag": b"z1"})
    capability = Answer("capability", imap_answer, {})
    go = Answer("starttls", imap_answer, {"untagged": 0, "tag": b"a2"})
    refused = Answer("refusal", imap_answer, {"untagged": 0, "tag": b"a2", "status": b"NO"})
    match kind:
        case "direct":
            return _fuzzed(greeting, logout, parts=_IMAP_PARTS)
        case "refused":
            logout = replace(logout, slots={**logout.slots, "tag": b"a3"})
            return _fuzzed(greeting, capability, refused, logout, parts=_IMAP_PARTS)
    return _fuzzed(greeting, capability, go, logout, parts=_IMAP_PARTS)


def _pop3_answers(kind: Kind) -> tuple[Answer, ...]:
    """Greeting, CAPA, STLS, QUIT; with direct TLS the greeting and QUIT only."""
    greeting = Answer("greeting", pop3_answer, {})
    quit_ = Answer("quit", pop3_answer, {"text": b"bye"})
    capa = Answer("capa", pop3_answer, {"text": b"capabilities", "lines": 2})
    go = Answer("stls", pop3_answer, {"text": b"go ahead"})
    refused = Answer("refusal", pop3_answer, {"status": b"-ERR", "text": b"not now"})
    match kind:
        case "direct":
            return _fuzzed(greeting, quit_, parts=_POP3_PARTS)
        case "refused":
            return _fuzzed(greeting, capa, refused, quit_, parts=_POP3_PARTS)
    return _fuzzed(greeting, capa, go, quit_, parts=_POP3_PARTS)


def _mail(
    protocol: AppProtocol, direct: AppProtocol, answers: Callable[[Kind], tuple[Answer, ...]]
) -> tuple[Exchange, ...]:
    """A STARTTLS protocol: upgraded, refused (no TLS, the protocol's goodbye), direct TLS."""
    return (
        Exchange(protocol, answers("starttls"), tls_at=3, greets=(True, False)),
        Exchange(protocol, answers("refused"), tls_at=4, greets=(True, False), tls=False),
        Exchange(direct, answers("direct"), greets=(False, True)),
    )


EXCHANGES: dict[str, tuple[Exchange, ...]] = {
    "http": (Exchange(AppProtocol.HTTPS, (_HTTP,), redirect=_REDIRECT),),
    "redirect": (
        Exchange(
            AppProtocol.HTTPS,
            (replace(_HTTP, variants=()),),
            redirect=replace(_REDIRECT, variants=_REDIRECT_PARTS),
        ),
    ),
    "smtp": _mail(AppProtocol.SMTP, AppProtocol.SMTPS, _smtp_answers),
    "imap": _mail(AppProtocol.IMAP, AppProtocol.IMAPS, _imap_answers),
    "pop3": _mail(AppProtocol.POP3, AppProtocol.POP3S, _pop3_answers),
    "ldap": (
        Exchange(AppProtocol.LDAP, (Answer("extended", ldap_response, {}, _LDAP_PARTS),), tls_at=1),
        Exchange(
            AppProtocol.LDAP,
            (Answer("refusal", ldap_response, {"code": b"\x34"}, _LDAP_PARTS),),
            tls_at=1,
            tls=False,
        ),
    ),
    "postgres": (
        Exchange(
            AppProtocol.POSTGRES,
            (Answer("ssl_request", postgres_answer, {}, (("answer", BYTES),)),),
            tls_at=1,
        ),
    ),
}
FAMILIES = tuple(EXCHANGES)


# -- conversations ------------------------------------------------------------------------------

type Then = Literal["go", "close", "reset", "hang"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one answer is sent: cut short, in chunks with pauses, flooded after, and what next."""

    cut: int | None = None
    chunk: int = 0
    pause: float = 0.0
    flood: bytes = b""
    then: Then = "go"

    def describe(self) -> str:
        parts = []
        if self.cut is not None:
            parts.append(f"cut at byte {self.cut}")
        if self.chunk:
            parts.append(
                f"{self.chunk}-byte writes" + (f" every {self.pause:g} s" if self.pause else "")
            )
        if self.flood:
            parts.append(f"then a flood of {self.flood[:8]!r}")
        if self.then != "go":
            parts.append(f"then {self.then}")
        return ", ".join(parts) or "as is"


@dataclass(frozen=True, slots=True)
class Case:
    """One conversation: the exchange, its answers (one of them hostile), and how it is sent."""

    family: str
    number: int
    protocol: AppProtocol
    answers: tuple[bytes, ...]
    tls_at: int
    greets: tuple[bool, bool]
    turn: int  # index of the hostile answer; -1: the answer on the plain-HTTP redirect port
    delivery: Delivery
    tls: bool = True
    redirect: bytes | None = None
    alpn: str = "http/1.1"
    legacy: bool = False
    addresses: int = 2  # the name resolves to this many of ADDRESSES
    what: str = ""

    def __str__(self) -> str:
        return (
            f"{self.family} #{self.number} ({self.protocol}, {self.addresses} addresses): "
            f"{self.what}; {self.delivery.describe()}"
        )


def _shown(value: Any) -> str:
    if isinstance(value, bytes) and len(value) > 24:
        return f"{value[:12]!r}... ({len(value)} bytes)"
    return repr(value)


def _answers(exchange: Exchange, turn: int, data: bytes) -> tuple[tuple[bytes, ...], bytes | None]:
    """The exchange's answers and redirect answer, with `data` in place of answer `turn`."""
    answers = [answer.build() for answer in exchange.answers]
    redirect = exchange.redirect.build() if exchange.redirect else None
    if turn < 0:
        redirect = data
    else:
        answers[turn] = data
    return tuple(answers), redirect


def _turns(exchange: Exchange) -> list[tuple[int, Answer]]:
    """The fuzzed answers with their index; the answer on the plain-HTTP redirect port is -1."""
    if exchange.redirect is not None and exchange.redirect.variants:
        return [(-1, exchange.redirect)]
    return list(enumerate(exchange.answers))


type Draft = tuple[Exchange, int, bytes, Delivery, str]


def _systematic(family: str, *, thorough: bool) -> Iterator[Draft]:
    """Each hostile value of each part, then truncations of each answer.

    Thorough: every value in every answer, and a cut at every byte of every answer. Otherwise the
    answers of the family (which share their parser) take the values in turn, and each answer
    is cut at up to CUTS points spread over it.
    """
    exchanges = EXCHANGES[family]
    turns = [
        (exchange, turn, answer) for exchange in exchanges for turn, answer in _turns(exchange)
    ]
    pairs = [(part, value) for part, values in turns[0][2].variants for value in values]
    chosen = (
        itertools.product(turns, pairs)
        if thorough
        else ((turns[index % len(turns)], pair) for index, pair in enumerate(pairs))
    )
    for (exchange, turn, answer), (part, value) in chosen:
        what = f"{answer.name}: {part} = {_shown(value)}"
        yield exchange, turn, answer.build(**{part: value}), Delivery(), what
    for exchange in EXCHANGES[family]:
        for turn, answer in _turns(exchange):
            data = answer.build()
            cuts = range(len(data)) if thorough else range(0, len(data), -(-len(data) // CUTS))
            for cut in cuts:
                yield exchange, turn, data, Delivery(cut=cut, then="close"), answer.name


def _mutated(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Flip, insert, delete or repeat bytes, one to four times."""
    buffer = bytearray(data)
    done = []
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(buffer) + 1)
        match rng.randrange(5):
            case 0 if buffer:
                at = min(at, len(buffer) - 1)
                buffer[at] ^= 1 << rng.randrange(8)
                done.append(f"a bit flipped at {at}")
            case 1:
                byte = rng.choice((0, 7, 9, 10, 13, 27, 127, 255))
                count = rng.choice((1, 3, 5000))
                buffer[at:at] = bytes([byte]) * count
                done.append(f"{count} x {byte:#04x} at {at}")
            case 2:
                end = min(len(buffer), at + rng.randint(1, 16))
                del buffer[at:end]
                done.append(f"bytes {at}..{end} deleted")
            case 3:
                end = min(len(buffer), at + rng.randint(1, 32))
                times = rng.choice((2, 100))
                buffer[at:at] = bytes(buffer[at:end]) * times
                done.append(f"bytes {at}..{end} repeated {times} times")
            case _:
                value = rng.choice((*NUMBERS, *TEXTS))
                buffer[at:at] = value
                done.append(f"{_shown(value)} inserted at {at}")
    return bytes(buffer[:MAX_ANSWER]), ", ".join(done)


def _delivery(rng: random.Random, size: int) -> Delivery:
    roll = rng.random()
    if roll < 0.35:
        return Delivery()
    if roll < 0.55:
        return Delivery(cut=rng.randrange(size + 1), then=rng.choice(("close", "reset", "hang")))
    if roll < 0.75:
        return Delivery(chunk=rng.choice((1, 2, 7, 100)))
    if roll < 0.85:
        # a slow drip: most end within the budget, some do not
        return Delivery(chunk=rng.choice((1, 8, 64)), pause=rng.choice((0.001, 0.005, 0.05)))
    if roll < 0.93:
        return Delivery(flood=rng.choice((b"a", b"\r\n", b"250-x\r\n", b"\x30\x84", b"\x00")))
    return Delivery(then=rng.choice(("close", "reset", "hang")))


def _random(rng: random.Random, family: str) -> tuple[Draft, dict[str, Any]]:
    exchange = rng.choice(EXCHANGES[family])
    turn, answer = rng.choice(_turns(exchange))
    count = min(len(answer.variants), rng.randint(0, 2))
    changes = {part: rng.choice(values) for part, values in rng.sample(answer.variants, k=count)}
    data = answer.build(**changes)
    what = f"{answer.name}: " + (
        ", ".join(f"{part} = {_shown(value)}" for part, value in changes.items()) or "as is"
    )
    if rng.random() < 0.5:
        data, how = _mutated(rng, data)
        what += f"; {how}"
    extra = {
        "alpn": rng.choice(("http/1.1", "http/1.1", "h2")),
        "legacy": rng.random() < 0.2,
        "addresses": rng.choice((1, 2)),
    }
    return (exchange, turn, data, _delivery(rng, len(data)), what), extra


def conversations(family: str, seed: int, *, thorough: bool = False) -> Iterator[Case]:
    """The family's cases, the same for the same seed: the systematic ones, then random ones."""
    rng = random.Random(f"{seed}:{family}")
    drafts = itertools.chain(
        # every other systematic case on two addresses: the other-address check hears it too
        (
            (draft, {"addresses": 1 + index % 2})
            for index, draft in enumerate(_systematic(family, thorough=thorough))
        ),
        (_random(rng, family) for _ in itertools.count()),
    )
    for number, ((exchange, turn, data, delivery, what), extra) in enumerate(drafts):
        answers, redirect = _answers(exchange, turn, data)
        yield Case(
            family=family,
            number=number,
            protocol=exchange.protocol,
            answers=answers,
            tls_at=exchange.tls_at,
            greets=exchange.greets,
            turn=turn,
            delivery=delivery,
            tls=exchange.tls,
            redirect=redirect,
            what=what,
            **extra,
        )


def systematic_count(family: str, *, thorough: bool = False) -> int:
    """How many systematic cases the family has (they come first)."""
    return sum(1 for _ in _systematic(family, thorough=thorough))


# -- the server -----------------------------------------------------------------------------------


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _drain_until_closed(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def _deliver(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, delivery: Delivery
) -> bool:
    """Send one answer as `delivery` says; False when the conversation ends with it."""
    if delivery.cut is not None:
        data = data[: delivery.cut]
    step = delivery.chunk or len(data) or 1
    for start in range(0, min(len(data), step * MAX_WRITES), step):
        writer.write(data[start : start + step])
        await writer.drain()
        # each write a turn of the loop of its own: the probe reads them one by one
        await asyncio.sleep(delivery.pause)
    if len(data) > step * MAX_WRITES:
        writer.write(data[step * MAX_WRITES :])
        await writer.drain()
    if delivery.flood:
        unit = delivery.flood * (65536 // len(delivery.flood))
        for _ in range(FLOOD_BYTES // len(unit)):
            writer.write(unit)
            await writer.drain()
    match delivery.then:
        case "close":
            return False
        case "reset":
            _reset(writer)
            return False
        case "hang":
            await _drain_until_closed(reader)
            return False
    return True


class HostileServer:
    """Answers every connection with the current case: a TLS-ish port on each of ADDRESSES (the
    name resolves to both) and a plain-HTTP port on 127.0.0.1 for the redirect check."""

    def __init__(self, pki: Pki) -> None:
        leaf = pki.leaf(HOST)
        self._contexts = {
            alpn: pki.server_context(leaf, pki.intermediate, alpn=[alpn])
            for alpn in ("http/1.1", "h2")
        }
        self.case: Case | None = None
        self.ports: dict[str, int] = {}
        self.plain_port = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> HostileServer:
        for address in ADDRESSES:
            server = await asyncio.start_server(self._tls_port, address, 0)
            self.ports[address] = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        plain = await asyncio.start_server(self._plain_port, "127.0.0.1", 0)
        self.plain_port = plain.sockets[0].getsockname()[1]
        self._servers.append(plain)
        return self

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        await self.settle(0)
        for server in self._servers:
            await server.wait_closed()

    async def settle(self, wait: float = 2.0) -> None:
        """Wait until every connection of the conversation has ended; end those that do not."""
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=wait)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        talk: Callable[[Case, asyncio.StreamReader, asyncio.StreamWriter], Any],
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.case is not None:
                await talk(self.case, reader, writer)
        except Exception:  # noqa: BLE001, S110 - whatever the probe does is fine here
            pass
        finally:
            self._tasks.discard(task)
            writer.close()  # closed within a turn or two: the probe has hung up already

    async def _tls_port(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, self._converse)

    async def _plain_port(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, self._redirect)

    async def _answer(
        self,
        case: Case,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        indexes: range,
        *,
        greets: bool,
    ) -> bool:
        """Answers `indexes` of the case, each after the client's command unless it greets."""
        for index in indexes:
            if (index > indexes.start or not greets) and not await reader.read(65536):
                return False
            delivery = case.delivery if index == case.turn else Delivery()
            if not await _deliver(reader, writer, case.answers[index], delivery):
                return False
        return True

    async def _converse(
        self, case: Case, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if not await self._answer(case, reader, writer, range(case.tls_at), greets=case.greets[0]):
            return
        if not case.tls:
            await _drain_until_closed(reader)
            return
        await writer.start_tls(self._contexts[case.alpn], ssl_handshake_timeout=2 * BUDGET)
        after = range(case.tls_at, len(case.answers))
        if await self._answer(case, reader, writer, after, greets=case.greets[1]):
            await _drain_until_closed(reader)

    async def _redirect(
        self, case: Case, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if case.redirect is None or not await reader.read(65536):
            return
        delivery = case.delivery if case.turn < 0 else Delivery()
        if await _deliver(reader, writer, case.redirect, delivery):
            await _drain_until_closed(reader)


# -- the fuzzer ---------------------------------------------------------------------------------


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what each points at."""
    opened = {}
    for entry in FDS.iterdir():
        with contextlib.suppress(FileNotFoundError):
            opened[int(entry.name)] = str(entry.readlink())
    return opened


class _Records(logging.Handler):
    """Keeps the error records of the probe engine: its last-resort handlers log one each."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(slots=True)
class _LoopWatch:
    """The CPU time of the longest event-loop callback since `reset` (and its wall time).

    CPU time is what a hostile input makes the loop spend; wall time on a loaded machine also
    counts the time the process was not scheduled. A garbage collection that happens to run
    inside a callback walks the whole process, whatever the input: its time is left out (and
    kept apart in `collecting`).
    """

    longest: float = 0.0
    wall: float = 0.0
    collecting: float = 0.0
    what: str = ""
    _collected: float = 0.0  # CPU seconds in collections, since the watch started
    _started: float = 0.0

    def reset(self) -> None:
        self.longest, self.wall, self.collecting, self.what = 0.0, 0.0, 0.0, ""

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            spent = time.thread_time() - self._started
            self._collected += spent
            self.collecting = max(self.collecting, spent)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        run = asyncio.events.Handle._run
        watch = self

        def timed_run(handle: asyncio.Handle) -> None:
            started, wall = time.thread_time(), time.perf_counter()
            collected = watch._collected
            try:
                run(handle)
            finally:
                spent = time.thread_time() - started - (watch._collected - collected)
                watch.wall = max(watch.wall, time.perf_counter() - wall)
                if spent > watch.longest:
                    watch.longest, watch.what = spent, repr(handle)[:200]

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        try:
            yield
        finally:
            gc.callbacks.remove(self._on_gc)
            asyncio.events.Handle._run = run  # type: ignore[method-assign]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one conversation gave and cost."""

    case: str
    verdict: str | None
    seconds: float
    callback_cpu: float
    callback_wall: float
    callback: str
    collecting: float  # CPU seconds of the longest garbage collection (left out of callbacks)
    memory: int
    steps: dict[str, float]
    problems: tuple[str, ...]


@dataclass(slots=True)
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.problems]

    def slowest_step(self) -> tuple[str, float, str]:
        """The longest step any probe timed (ms), and the conversation it was in."""
        return max(
            (
                (step, ms, outcome.case)
                for outcome in self.outcomes
                for step, ms in outcome.steps.items()
            ),
            key=lambda found: found[1],
            default=("-", 0.0, "-"),
        )

    def describe(self, limit: int = 10) -> str:
        failures = self.failures
        lines = [f"{len(failures)} of {len(self.outcomes)} conversations failed:"]
        for outcome in failures[:limit]:
            lines.append(f"- {outcome.case}")
            lines.extend(f"    {problem}" for problem in outcome.problems)
        return "\n".join(lines)


def _texts(report: ProbeReport) -> list[str]:
    """Every text of the report that may carry a server's words."""
    texts = [report.detail, *report.details.values(), *(check.detail for check in report.addresses)]
    if report.http is not None and report.http.error:
        texts.append(report.http.error)
    return texts


class Fuzzer:
    """Runs conversations against a hostile server and checks each one."""

    def __init__(self, prober: Prober, directory: Path) -> None:
        self._prober = prober
        self._pki = Pki(directory, "Hostile")
        self.server = HostileServer(self._pki)
        self._loop = _LoopWatch()
        self._records = _Records()

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """Start the server, resolve the name to both addresses, shorten the budgets, measure."""
        await self.server.start()
        server = self.server

        async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
            count = server.case.addresses if server.case else 1
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, server.ports[address]))
                for address in ADDRESSES[:count]
            ]

        saved = (engine.lookup, engine.GOODBYE_TIMEOUT)
        engine.lookup, engine.GOODBYE_TIMEOUT = lookup, GOODBYE  # type: ignore[assignment]
        logger = logging.getLogger(PROBE_LOGGER)
        logger.addHandler(self._records)
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        # Debug mode records a stack for every callback and future: ten times slower, and the
        # loop's callbacks are timed here anyway.
        loop = asyncio.get_running_loop()
        debug = loop.get_debug()
        loop.set_debug(False)
        try:
            with self._loop.watching():
                yield self
        finally:
            loop.set_debug(debug)
            if not tracing:
                tracemalloc.stop()
            logger.removeHandler(self._records)
            engine.lookup, engine.GOODBYE_TIMEOUT = saved  # type: ignore[assignment]
            await self.server.stop()

    async def run(self, cases: Iterator[Case], count: int) -> Summary:
        summary = Summary()
        started = time.perf_counter()
        for case in itertools.islice(cases, count):
            summary.outcomes.append(await self.converse(case))
        summary.seconds = time.perf_counter() - started
        return summary

    async def converse(self, case: Case) -> Outcome:
        self.server.case = case
        target = Target(
            host=HOST,
            port=self.server.ports[ADDRESSES[0]],
            protocol=case.protocol,
            ca_file=str(self._pki.root_file),
        )
        options = ProbeOptions(
            timeout=BUDGET,
            scan_legacy=case.legacy,
            check_redirect=case.protocol is AppProtocol.HTTPS,
            http_port=self.server.plain_port,
        )
        problems: list[str] = []
        report: ProbeReport | None = None
        await asyncio.sleep(0)  # making the case is not the probe's work
        before = open_fds()
        errors = len(self._records.records)
        self._loop.reset()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(MAX_SECONDS):
                report = await self._prober.probe(target, options)
        except TimeoutError:
            problems.append(f"no report within {MAX_SECONDS:g} s")
        except Exception as err:  # noqa: BLE001 - what the fuzzer is here to find
            problems.append(f"raised {type(err).__name__}: {str(err)[:200]!r}")
        seconds = time.perf_counter() - started
        memory = tracemalloc.get_traced_memory()[1] - base
        watch = self._loop
        callback_cpu, callback_wall, callback = watch.longest, watch.wall, watch.what
        await self.server.settle()
        problems += await self._leaked(before)
        if callback_cpu > MAX_CALLBACK_CPU:
            problems.append(f"a loop callback used {callback_cpu * 1000:.0f} ms of CPU: {callback}")
        if memory > MAX_MEMORY:
            problems.append(f"{memory / 1024:.0f} KiB allocated at the peak")
        problems += [
            f"last resort: {record.getMessage()[:300]}" for record in self._records.records[errors:]
        ]
        steps: dict[str, float] = {}
        if report is not None:
            problems += self._checked(report)
            steps = {
                name.removesuffix("_ms"): value
                for name, value in vars_of(report.timings).items()
                if value is not None
            }
        return Outcome(
            case=str(case),
            verdict=None if report is None else str(report.verdict),
            seconds=seconds,
            callback_cpu=callback_cpu,
            callback_wall=callback_wall,
            callback=callback,
            collecting=watch.collecting,
            memory=memory,
            steps=steps,
            problems=tuple(problems),
        )

    @staticmethod
    async def _leaked(before: dict[int, str]) -> list[str]:
        """Descriptors opened during the conversation and still open (closing may take a turn)."""
        for _ in range(50):
            leaked = {fd: path for fd, path in open_fds().items() if before.get(fd) != path}
            if not leaked:
                return []
            await asyncio.sleep(0.01)
        return [f"file descriptors left open: {sorted(leaked.items())}"]

    @staticmethod
    def _checked(report: ProbeReport) -> list[str]:
        problems = []
        try:
            json.dumps(report.as_dict())
        except (TypeError, ValueError) as err:
            problems.append(f"the report is not JSON: {err}")
        problems += [
            f"a text is not inert: {text[:200]!r}"
            for text in _texts(report)
            if not text.isprintable() or "`" in text
        ]
        return problems


def vars_of(timings: Any) -> dict[str, float | None]:
    return {name: getattr(timings, name) for name in timings.__slots__}
