"""The HTTP step: status, HSTS, h2 fallback, redirect check, and hostile answers."""

from __future__ import annotations

import socket
import time

import pytest

from custom_components.tls_health.probe import ProbeOptions, http
from custom_components.tls_health.probe.models import Verdict
from tests.servers import HttpHandler, drip, huge_headers, redirect_to

from .test_verdicts import HOST, run, target_for


@pytest.fixture
async def https(pki, serve, tls_context):
    """Start an HTTPS server for HOST with a handler (and ALPN list)."""

    async def start(handler=None, alpn=None):
        context = tls_context(pki.leaf(HOST), pki.intermediate, alpn=alpn)
        return await serve(handler or HttpHandler(), context=context)

    return start


async def test_hsts_header(pki, prober, https) -> None:
    handler = HttpHandler(
        200, (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
    )
    server = await https(handler)
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.status == 200
    assert report.http.hsts is True
    assert report.http.hsts_max_age == 31536000
    assert report.http.error is None
    assert report.timings.http_ms is not None
    request = handler.requests[0]
    assert request.startswith(b"GET / HTTP/1.1\r\n")
    assert f"Host: {HOST}:{server.port}\r\n".encode() in request
    assert b"Connection: close\r\n" in request
    assert b"User-Agent: TLS-Health\r\n" in request


async def test_no_hsts_and_error_status(pki, prober, https) -> None:
    server = await https(HttpHandler(404))
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.http is not None
    assert report.http.status == 404
    assert report.http.hsts is False
    assert report.http.hsts_max_age is None


async def test_h2_only_server(pki, prober, https) -> None:
    server = await https(HttpHandler(h2_only=True), alpn=["h2"])
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.alpn == "h2"
    assert report.http is not None
    assert report.http.status is None
    assert report.http.error is not None
    assert "only HTTP/2" in report.http.error


async def test_h2_server_with_http1_fallback(pki, prober, https) -> None:
    handler = HttpHandler(200, (("Strict-Transport-Security", 'max-age="600"'),))
    server = await https(handler, alpn=["h2", "http/1.1"])
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.alpn == "h2"
    assert report.http is not None
    assert report.http.status == 200
    assert report.http.hsts_max_age == 600
    assert len(handler.requests) == 1


async def test_slow_drip_headers_end_within_budget(pki, prober, https) -> None:
    server = await https(drip(0.05))
    started = time.perf_counter()
    report = await prober.probe(
        target_for(pki, server.port), ProbeOptions(timeout=0.5, scan_legacy=False)
    )
    assert time.perf_counter() - started < 2.0
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.error is not None
    assert "within 0.5 s" in report.http.error


async def test_huge_headers_are_capped(pki, prober, https) -> None:
    server = await https(huge_headers(1024 * 1024))
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.error == "response headers exceed 64 KiB"


async def test_redirect_to_https(pki, prober, https, serve) -> None:
    server = await https()
    plain = await serve(redirect_to(f"https://{HOST}/"))
    report = await run(
        prober,
        target_for(pki, server.port),
        check_http=True,
        check_redirect=True,
        http_port=plain.port,
    )
    assert report.http is not None
    assert report.http.redirects_to_https is True
    assert report.http.status == 200


async def test_redirect_elsewhere_or_none(pki, prober, https, serve) -> None:
    server = await https()
    plain = await serve(HttpHandler(200))
    report = await run(
        prober, target_for(pki, server.port), check_redirect=True, http_port=plain.port
    )
    assert report.http is not None
    assert report.http.redirects_to_https is False
    assert report.http.status is None  # check_http was off
    to_http = await serve(redirect_to(f"http://{HOST}/login", 302))
    report = await run(
        prober, target_for(pki, server.port), check_redirect=True, http_port=to_http.port
    )
    assert report.http is not None
    assert report.http.redirects_to_https is False


async def test_redirect_unreachable(pki, prober, https) -> None:
    server = await https()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    report = await run(prober, target_for(pki, server.port), check_redirect=True, http_port=closed)
    assert report.verdict is Verdict.OK
    assert report.http is not None
    assert report.http.redirects_to_https is None


def test_host_header() -> None:
    assert http.host_header("a.test", 443, 443) == "a.test"
    assert http.host_header("a.test", 8443, 443) == "a.test:8443"
    assert http.host_header("::1", 8443, 443) == "[::1]:8443"
    assert http.host_header("::1", 80, 80) == "[::1]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=63072000; includeSubDomains; preload", 63072000),
        ('MAX-AGE="300"', 300),
        ("includeSubDomains; max-age=0", 0),
        ("includeSubDomains", None),
        ("max-age=abc", None),
        # past what a client can hold: 2^31 (no int() of 5,000 digits, past Python's limit)
        pytest.param("max-age=" + "9" * 5000, 2**31, id="5000 digits"),
        pytest.param("max-age=" + "0" * 5000 + "7", 7, id="5000 leading zeros"),
        ("max-age=2147483649", 2**31),
        ("max-age=2147483647", 2**31 - 1),
        ("max-age=\u0661\u0662", None),  # digits of another script are not delta-seconds
    ],
)
def test_hsts_max_age(value: str, expected: int | None) -> None:
    assert http.hsts_max_age(value) == expected


async def test_hsts_max_age_of_five_thousand_digits(pki, prober, https) -> None:
    """A number past Python's int() digit limit: the report says 2^31, and nothing raises."""
    header = ("Strict-Transport-Security", "max-age=" + "9" * 5000)
    server = await https(HttpHandler(200, (header,)))
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.http is not None
    assert report.http.hsts_max_age == 2**31


async def test_more_than_a_hundred_header_lines(pki, prober, https) -> None:
    headers = tuple((f"X-Header-{index}", "x") for index in range(120))
    server = await https(HttpHandler(200, headers))
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.http is not None
    assert report.http.status is None
    assert report.http.error == "more than 100 header lines"


async def test_not_an_http_answer_is_shown_inert(pki, prober, https, serve) -> None:
    """A status line of control characters and backticks reaches the HTTP error made inert."""

    async def answer(reader, writer) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"\x1b[2J`rm -rf`\x07\xe2\x80\xae\r\n\r\n")
        await writer.drain()

    server = await https(answer)
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.http is not None
    error = report.http.error
    assert error is not None
    assert error.startswith("not an HTTP response: ")
    assert error.isprintable()
    assert "`" not in error


def test_parse_head() -> None:
    head = http.parse_head(
        b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nlocation: ignored\r\n", 1.0
    )
    assert head.status == 301
    assert head.headers["location"] == "https://x/"
    assert http.redirects_to_https(head)
    with pytest.raises(http.HttpError):
        http.parse_head(b"SSH-2.0-OpenSSH_9.9\r\n", 1.0)
