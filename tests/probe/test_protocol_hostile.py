"""Hostile and broken peers of the STARTTLS protocols: bounded reads, time budgets, inert text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import time

import pytest

from custom_components.tls_health.probe import AppProtocol, ProbeOptions, Target, Verdict, engine
from custom_components.tls_health.probe.protocols import MAX_LINE, MAX_LINES

BUDGET = 1.0

pytestmark = pytest.mark.usefixtures("loop_stall_watch")
type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def loopback(port: int, protocol: AppProtocol) -> Target:
    return Target(host="mail.example.test", port=port, address="127.0.0.1", protocol=protocol)


async def timed(prober, serve, handler: Handler, protocol: AppProtocol):
    server = await serve(handler)
    started = time.perf_counter()
    report = await prober.probe(loopback(server.port, protocol), ProbeOptions(timeout=BUDGET))
    return report, time.perf_counter() - started


def smtp(*answers: bytes) -> Handler:
    """Greet, then answer each command line with the next answer; then wait."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example.test ESMTP\r\n")
        for answer in answers:
            await reader.readline()
            writer.write(answer)
            await writer.drain()
        await reader.read()

    return handle


async def test_endless_line(prober, serve) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220" + b"x" * (4 * MAX_LINE))
        await writer.drain()
        await reader.read()

    report, took = await timed(prober, serve, handle, AppProtocol.SMTP)
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert f"longer than {MAX_LINE} bytes" in report.detail
    assert took < BUDGET


async def test_endless_reply(prober, serve) -> None:
    report, took = await timed(
        prober, serve, smtp(b"250-x\r\n" * (MAX_LINES + 10) + b"250 end\r\n"), AppProtocol.SMTP
    )
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert f"longer than {MAX_LINES} lines" in report.detail
    assert took < BUDGET


async def test_data_after_starttls_answer_is_refused(prober, serve) -> None:
    """Bytes sent before the handshake would be taken as protected: the probe stops."""
    report, _ = await timed(
        prober,
        serve,
        smtp(b"250-mail\r\n250 STARTTLS\r\n", b"220 go ahead\r\n250 injected\r\n"),
        AppProtocol.SMTP,
    )
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert "sent data after agreeing to start TLS" in report.detail


async def test_starttls_refused(prober, serve) -> None:
    report, _ = await timed(
        prober,
        serve,
        smtp(b"250-mail\r\n250 STARTTLS\r\n", b"454 TLS not available\r\n", b"221 bye\r\n"),
        AppProtocol.SMTP,
    )
    assert report.verdict is Verdict.STARTTLS_NOT_OFFERED
    assert "454" in report.detail
    assert report.details["reason"] == "STARTTLS: 454"


async def test_silent_server_times_out_within_budget(prober, serve) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    report, took = await timed(prober, serve, silent, AppProtocol.IMAP)
    assert report.verdict is Verdict.TIMEOUT
    assert "no complete IMAP with STARTTLS answer" in report.detail
    assert took < 2 * BUDGET


async def test_control_characters_are_inert(prober, serve) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x1b[31mHELLO\x00\x07 \xff\xfe\r\n")
        await writer.drain()
        await reader.read()

    report, _ = await timed(prober, serve, handle, AppProtocol.IMAP)
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert all(char.isprintable() for char in report.detail), report.detail


async def test_ldap_huge_length(prober, serve) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"\x30\x83\xff\xff\xff")
        await writer.drain()
        await reader.read()

    report, took = await timed(prober, serve, handle, AppProtocol.LDAP)
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert "larger than" in report.detail
    assert took < BUDGET


async def test_ldap_result_code_of_two_thousand_octets(prober, serve) -> None:
    """An ENUMERATED far past 32 bits: not an LDAP result (its decimal form would raise), and
    the socket is closed (the descriptor check of every probe test)."""
    code = b"\x01" * 2000
    result = b"\x0a\x82" + len(code).to_bytes(2) + code + b"\x04\x00\x04\x00"
    operation = b"\x78\x82" + len(result).to_bytes(2) + result
    message = b"\x02\x01\x01" + operation
    answer = b"\x30\x82" + len(message).to_bytes(2) + message

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(answer)
        await writer.drain()
        await reader.read()

    report, took = await timed(prober, serve, handle, AppProtocol.LDAP)
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert report.detail == "not an LDAP result"
    assert took < BUDGET


async def test_imap_refusal_reaches_the_reason_inert(prober, serve) -> None:
    """The tagged status of a refused STARTTLS is the server's word: inert in details.reason."""
    status = b"\x1b[31mNO`" + b"X" * 1000

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        await reader.readline()
        writer.write(b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n")
        await reader.readline()
        writer.write(b"a2 " + status + b" refused\r\n")
        await reader.readline()
        writer.write(b"* BYE\r\na3 OK bye\r\n")
        await writer.drain()
        await reader.read()

    report, _ = await timed(prober, serve, handle, AppProtocol.IMAP)
    assert report.verdict is Verdict.STARTTLS_NOT_OFFERED, report.detail
    reason = report.details["reason"]
    assert reason.startswith("STARTTLS: ")
    assert reason.isprintable()
    assert "`" not in reason
    assert len(reason) <= len("STARTTLS: ") + 32


async def test_postgres_error_answer(prober, serve) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)
        writer.write(b"EFATAL unsupported frontend protocol")
        await writer.drain()
        await reader.read()

    report, _ = await timed(prober, serve, handle, AppProtocol.POSTGRES)
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert "not a PostgreSQL answer" in report.detail


async def test_plain_greeting_on_tls_port(prober, serve) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK POP3 ready\r\n")
        await writer.drain()
        await reader.read()

    report, _ = await timed(prober, serve, handle, AppProtocol.POP3S)
    assert report.verdict is Verdict.PLAINTEXT_ON_TLS_PORT
    assert "+OK POP3 ready" in report.detail
    assert report.details["reason"] == "+OK POP3 ready"  # the server's words, inert


async def test_silent_goodbye_does_not_hold_the_probe(
    prober, serve, pki, tls_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMTPS that never greets after the handshake: the verdict comes within the goodbye cap."""
    monkeypatch.setattr(engine, "GOODBYE_TIMEOUT", 0.5)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await serve(
        silent, context=tls_context(pki.leaf("mail.example.test"), pki.intermediate)
    )
    target = Target(
        host="mail.example.test",
        port=server.port,
        address="127.0.0.1",
        protocol=AppProtocol.SMTPS,
        ca_file=str(pki.root_file),
    )
    started = time.perf_counter()
    report = await prober.probe(target, ProbeOptions(timeout=5))
    assert report.verdict is Verdict.OK, report.detail
    assert time.perf_counter() - started < 2
