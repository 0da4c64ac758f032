"""One last-resort handler per probe step: a bug in a step ends in a report, never an exception.

Each test plants a bug in one step (an exception no bound foresaw, carrying words a server could
have sent) against a real loopback server. A step that decides the verdict ends the probe with
`handshake_failed`; a step that only adds to it (legacy scan, HTTP, redirect, other addresses,
goodbye) leaves the certificate's verdict alone. Either way the step is named in the report, the
bug is logged without the exception's message, and no socket stays open (the descriptor check of
every probe test).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from custom_components.tls_health.probe import (
    AppProtocol,
    ProbeOptions,
    Prober,
    ProbeReport,
    Target,
    Verdict,
    engine,
    http,
    protocols,
)
from custom_components.tls_health.probe.connection import TlsStream
from tests.certs import Pki

from .test_verdicts import HOST, run, target_for

SECRET = "words\x1b[31m a server sent"  # noqa: S105 - what a log line must not show
LOGGER = "custom_components.tls_health.probe.engine"


def bug(*_: Any, **__: Any) -> Any:
    raise LookupError(SECRET)


async def async_bug(*_: Any, **__: Any) -> Any:
    raise LookupError(SECRET)


def assert_named(report: ProbeReport, step: str, caplog: pytest.LogCaptureFixture) -> None:
    assert report.details["step"] == step
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert errors
    assert {record.name for record in errors} == {LOGGER}
    assert f"step {step}" in errors[0].getMessage()
    assert "LookupError" in errors[0].getMessage()
    assert "a server sent" not in caplog.text


def assert_stopped(report: ProbeReport, step: str, caplog: pytest.LogCaptureFixture) -> None:
    """The step decides the verdict: handshake_failed, naming the step."""
    assert report.verdict is Verdict.HANDSHAKE_FAILED
    assert engine.STEPS[step] in report.detail
    assert report.details["reason"] == f"unexpected LookupError in step {step}"
    assert_named(report, step, caplog)


@pytest.fixture
async def https(pki: Pki, serve: Any, tls_context: Any) -> Any:
    return await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))


async def test_dns(prober: Prober, pki: Pki, monkeypatch, caplog) -> None:
    monkeypatch.setattr(engine, "lookup", async_bug)
    report = await run(prober, Target(host=HOST, port=443, ca_file=str(pki.root_file)))
    assert_stopped(report, "dns", caplog)


async def test_connect(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    monkeypatch.setattr(engine, "open_tcp", async_bug)
    report = await run(prober, target_for(pki, https.port))
    assert_stopped(report, "connect", caplog)


async def test_starttls(prober: Prober, pki: Pki, serve, monkeypatch, caplog) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example.test ESMTP\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(greet)
    monkeypatch.setattr(protocols, "smtp_starttls", async_bug)
    report = await run(prober, target_for(pki, server.port, protocol=AppProtocol.SMTP))
    assert_stopped(report, "starttls", caplog)


async def test_handshake(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    monkeypatch.setattr(TlsStream, "handshake", async_bug)
    report = await run(prober, target_for(pki, https.port))
    assert_stopped(report, "handshake", caplog)


async def test_judgement(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    monkeypatch.setattr(engine, "assess", bug)
    report = await run(prober, target_for(pki, https.port), check_http=True)
    assert_stopped(report, "judgement", caplog)
    assert report.http is not None  # the HTTP answer came all the same
    assert report.http.status == 200


async def test_legacy_scan(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    handshake = TlsStream.handshake

    async def legacy_bug(self: TlsStream) -> None:
        if self.ssl_object.context.maximum_version in {
            ssl.TLSVersion.TLSv1,
            ssl.TLSVersion.TLSv1_1,
        }:
            raise LookupError(SECRET)
        await handshake(self)

    monkeypatch.setattr(TlsStream, "handshake", legacy_bug)
    report = await run(prober, target_for(pki, https.port), scan_legacy=True)
    assert report.verdict is Verdict.OK
    assert (report.protocols.tls1_0, report.protocols.tls1_1) == (None, None)
    assert report.detail.count(engine.STEPS["legacy"]) == 1
    assert_named(report, "legacy", caplog)


async def test_http(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    monkeypatch.setattr(http, "parse_head", bug)
    report = await run(prober, target_for(pki, https.port), check_http=True)
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.error == "the probe failed unexpectedly in the HTTPS request (LookupError)"
    assert_named(report, "http", caplog)


async def test_redirect(prober: Prober, pki: Pki, https, serve, monkeypatch, caplog) -> None:
    plain = await serve()
    monkeypatch.setattr(http, "redirects_to_https", bug)
    report = await run(
        prober, target_for(pki, https.port), check_redirect=True, http_port=plain.port
    )
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.redirects_to_https is None
    assert engine.STEPS["redirect"] in report.detail
    assert_named(report, "redirect", caplog)


async def test_authority(prober: Prober, pki: Pki, https, monkeypatch, caplog) -> None:
    monkeypatch.setattr(Prober, "_asked", async_bug)
    report = await run(prober, target_for(pki, https.port))
    assert report.verdict is Verdict.OK
    assert report.revocation is None
    assert engine.STEPS["authority"] in report.detail
    assert_named(report, "authority", caplog)


@pytest.mark.usefixtures("loopback_range")
async def test_other_address(
    prober: Prober, pki: Pki, serve, tls_context, monkeypatch, caplog
) -> None:
    first = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    second = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate), host="127.0.0.2")
    handshake = TlsStream.handshake

    async def second_address_bug(self: TlsStream) -> None:
        if self._sock.getpeername()[0] == "127.0.0.2":
            raise LookupError(SECRET)
        await handshake(self)

    async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
        return [
            (2, 1, 6, "", ("127.0.0.1", first.port)),
            (2, 1, 6, "", ("127.0.0.2", second.port)),
        ]

    monkeypatch.setattr(engine, "lookup", lookup)
    monkeypatch.setattr(TlsStream, "handshake", second_address_bug)
    report = await run(prober, Target(host=HOST, port=first.port, ca_file=str(pki.root_file)))
    assert report.verdict is Verdict.OK
    _, other = report.addresses
    assert other.verdict is Verdict.HANDSHAKE_FAILED
    assert engine.STEPS["addresses"] in other.detail
    assert_named(report, "addresses", caplog)


async def test_goodbye(prober: Prober, pki: Pki, serve, tls_context, monkeypatch, caplog) -> None:
    async def smtps(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example.test ESMTP\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(smtps, context=tls_context(pki.leaf(HOST), pki.intermediate))
    monkeypatch.setattr(protocols, "goodbye", async_bug)
    target = target_for(pki, server.port, protocol=AppProtocol.SMTPS)
    report = await prober.probe(target, ProbeOptions(timeout=5))
    assert report.verdict is Verdict.OK
    assert engine.STEPS["goodbye"] in report.detail
    assert_named(report, "goodbye", caplog)


def test_every_step_is_tested() -> None:
    tested = {"dns", "connect", "starttls", "handshake", "judgement", "legacy", "http"}
    tested |= {"redirect", "authority", "addresses", "goodbye"}
    assert set(engine.STEPS) == tested
