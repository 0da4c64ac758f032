"""One real TLS server per case, and the one verdict the probe must reach for it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import errno
import json
import socket
import ssl
import time
from zoneinfo import ZoneInfo

import pytest
import pytest_socket

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    ProbeReport,
    Target,
    Verdict,
    days_until,
    engine,
)
from custom_components.tls_health.probe.target import parse_target
from tests.certs import DAY, NOW, Pki, issue
from tests.servers import HttpHandler, alerting_tls, plain_http, record_sni, silent

from .conftest import ipv6_available

HOST = "hass.example.test"


def target_for(pki: Pki, port: int, host: str = HOST, **kwargs: object) -> Target:
    """A target pinned to 127.0.0.1 (no DNS), trusting the test root."""
    kwargs.setdefault("address", "127.0.0.1")
    kwargs.setdefault("ca_file", str(pki.root_file))
    return Target(host=host, port=port, **kwargs)  # type: ignore[arg-type]


async def run(prober: Prober, target: Target, **kwargs: object) -> ProbeReport:
    kwargs.setdefault("timeout", 5)
    kwargs.setdefault("scan_legacy", False)
    kwargs.setdefault("check_http", False)
    now = kwargs.pop("now", None)
    report = await prober.probe(target, ProbeOptions(**kwargs), now=now)  # type: ignore[arg-type]
    json.dumps(report.as_dict())
    return report


async def test_ok_full_chain(pki, prober, serve, tls_context) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert "verifier_note" not in report.details  # the strict verifier itself accepted it
    assert report.address == "127.0.0.1"
    assert report.timings.dns_ms is None
    assert report.timings.connect_ms is not None
    assert report.timings.tls_ms is not None
    assert report.chain_in_order is True
    assert [cert.common_name for cert in report.chain] == [HOST, "TLS Health Test Intermediate R1"]
    leaf = report.leaf
    assert leaf is not None
    assert leaf.sans == (HOST,)
    assert leaf.key_type == "EC"
    assert leaf.key_size == 256
    assert leaf.signature_algorithm == "sha256"
    assert not leaf.is_ca
    assert report.chain[1].is_ca
    assert len(leaf.sha256) == 64
    assert leaf.not_after.tzinfo is not None
    assert report.details["host"] == HOST
    assert report.details["port"] == str(server.port)
    assert report.details["days"] == str(days_until(leaf.not_after, report.checked_at))
    assert report.http is not None
    assert report.http.status == 200
    assert report.placeholder is False


async def test_ok_rsa_leaf_with_dns(pki, prober, serve, tls_context) -> None:
    """A name target resolved through DNS (localhost), RSA key, no pinned address."""
    leaf = pki.leaf("localhost", key="rsa")
    server = await serve(context=tls_context(leaf, pki.intermediate))
    target = Target(host="localhost", port=server.port, ca_file=str(pki.root_file))
    report = await run(prober, target)
    if report.verdict is Verdict.CONNECTION_REFUSED:  # localhost resolved to ::1 only
        pytest.skip("localhost does not resolve to 127.0.0.1 here")
    assert report.verdict is Verdict.OK, report.detail
    assert report.timings.dns_ms is not None
    assert report.leaf is not None
    assert report.leaf.key_type == "RSA"
    assert report.leaf.key_size == 2048


@pytest.mark.parametrize(
    ("left", "days", "shown"),
    [
        (-(3 * DAY + timedelta(minutes=5)), "-3", "expired 3 days ago"),
        (-timedelta(minutes=1), "-1", "expired 1 day ago"),
        (timedelta(hours=11), "0", "valid until"),
        (4 * DAY + timedelta(hours=23), "5", "valid until"),
    ],
)
async def test_one_day_count_at_the_boundaries(
    pki, prober, serve, tls_context, left: timedelta, days: str, shown: str
) -> None:
    """The probe counts days as the sensors do: calendar days in the time zone of `now`."""
    now = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    leaf = pki.leaf(HOST, not_before=now - 100 * DAY, not_after=now + left)
    server = await serve(context=tls_context(leaf, pki.intermediate))
    report = await run(prober, target_for(pki, server.port), now=now)
    assert report.details["days"] == days
    assert shown in report.detail
    if days.startswith("-"):
        assert report.details["days_expired"] == days.removeprefix("-")


async def test_certificate_expired_leaf(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf(HOST, not_before=NOW - 100 * DAY, not_after=NOW - 3 * DAY)
    server = await serve(context=tls_context(leaf, pki.intermediate))
    report = await run(prober, target_for(pki, server.port), now=NOW)
    assert report.verdict is Verdict.CERTIFICATE_EXPIRED, report.detail
    assert report.details["days_expired"] == "3"
    assert report.details["subject"] == leaf.subject
    assert "expired 3 days ago" in report.detail
    assert HOST in report.detail
    assert report.details["days"] == "-3"


async def test_intermediate_expires_before_leaf(pki, prober, serve, tls_context) -> None:
    intermediate = issue("Short Intermediate", issuer=pki.root, ca=True, not_after=NOW + 10 * DAY)
    leaf = pki.leaf(HOST, issuer=intermediate, not_after=NOW + 80 * DAY)
    server = await serve(context=tls_context(leaf, intermediate))
    report = await run(prober, target_for(pki, server.port), now=NOW)
    assert report.verdict is Verdict.OK, report.detail
    assert report.earliest_expiry == intermediate.cert.not_valid_after_utc
    assert report.details["days"] == "10"


async def test_expired_intermediate(pki, prober, serve, tls_context) -> None:
    intermediate = issue(
        "Expired Intermediate",
        issuer=pki.root,
        ca=True,
        not_before=NOW - 400 * DAY,
        not_after=NOW - 5 * DAY,
    )
    leaf = pki.leaf(HOST, issuer=intermediate, not_before=NOW - 20 * DAY)
    server = await serve(context=tls_context(leaf, intermediate))
    report = await run(prober, target_for(pki, server.port), now=NOW)
    assert report.verdict is Verdict.CERTIFICATE_EXPIRED, report.detail
    assert report.details["subject"] == intermediate.subject
    assert report.details["days_expired"] == "5"
    assert "intermediate certificate Expired Intermediate" in report.detail


async def test_certificate_not_yet_valid(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf(HOST, not_before=NOW + 2 * DAY, not_after=NOW + 90 * DAY)
    server = await serve(context=tls_context(leaf, pki.intermediate))
    report = await run(prober, target_for(pki, server.port), now=NOW)
    assert report.verdict is Verdict.CERTIFICATE_NOT_YET_VALID, report.detail
    assert report.details["subject"] == leaf.subject
    assert "in 2 days" in report.detail


async def test_hostname_mismatch(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf("other.example.test", "www.other.example.test")
    server = await serve(context=tls_context(leaf, pki.intermediate))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.HOSTNAME_MISMATCH, report.detail
    assert report.details["expected_name"] == HOST
    assert report.details["names"] == "other.example.test, www.other.example.test"
    assert HOST in report.detail
    assert "other.example.test" in report.detail


async def test_common_name_ignored_when_sans_exist(pki, prober, serve, tls_context) -> None:
    leaf = issue(HOST, issuer=pki.intermediate, names=("other.example.test",))
    server = await serve(context=tls_context(leaf, pki.intermediate))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.HOSTNAME_MISMATCH, report.detail


async def test_self_signed(pki, prober, serve, tls_context) -> None:
    leaf = issue(HOST, names=(HOST,))
    server = await serve(context=tls_context(leaf))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.SELF_SIGNED, report.detail
    assert report.placeholder is False
    assert "self-signed" in report.detail
    assert report.leaf is not None
    assert report.leaf.self_issued
    assert report.chain_in_order is None


async def test_self_signed_placeholder_localhost(pki, prober, serve, tls_context) -> None:
    """HAProxy / Cosmos ship CN=localhost; probing them by their real name."""
    leaf = issue("localhost", names=("localhost",))
    server = await serve(context=tls_context(leaf))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.SELF_SIGNED, report.detail
    assert report.placeholder is True
    assert "placeholder" in report.detail


async def test_self_signed_trusted_through_ca_file(pki, prober, serve, tls_context) -> None:
    """Pinning a self-signed certificate as the CA file makes it trusted."""
    leaf = issue(HOST, names=(HOST,))
    server = await serve(context=tls_context(leaf))
    pinned = pki.write("pinned.pem", leaf)
    report = await run(prober, target_for(pki, server.port, ca_file=str(pinned)))
    assert report.verdict is Verdict.OK, report.detail


async def test_untrusted_issuer(pki, prober, serve, tls_context, tmp_path) -> None:
    other = Pki(tmp_path, label="Other")
    leaf = other.leaf(HOST)
    server = await serve(context=tls_context(leaf, other.intermediate, other.root))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.UNTRUSTED_ISSUER, report.detail
    assert report.details["issuer"] == other.root.subject
    assert "not trusted" in report.detail


async def test_incomplete_chain(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf(HOST)
    server = await serve(context=tls_context(leaf))  # the intermediate is not served
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.INCOMPLETE_CHAIN, report.detail
    assert report.details["missing_issuer"] == pki.intermediate.subject
    assert "TLS Health Test Intermediate R1" in report.detail


async def test_incomplete_chain_missing_second_intermediate(
    pki, prober, serve, tls_context
) -> None:
    lower = issue("Lower Intermediate", issuer=pki.intermediate, ca=True)
    leaf = pki.leaf(HOST, issuer=lower)
    server = await serve(context=tls_context(leaf, lower))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.INCOMPLETE_CHAIN, report.detail
    assert report.details["missing_issuer"] == pki.intermediate.subject


async def test_chain_in_wrong_order_still_ok(pki, prober, serve, tls_context) -> None:
    lower = issue("Lower Intermediate", issuer=pki.intermediate, ca=True)
    leaf = pki.leaf(HOST, issuer=lower)
    server = await serve(context=tls_context(leaf, pki.intermediate, lower))
    report = await run(prober, target_for(pki, server.port))
    assert [cert.common_name for cert in report.chain] == [
        HOST,
        "TLS Health Test Intermediate R1",
        "Lower Intermediate",
    ]
    assert report.chain_in_order is False
    assert report.verdict is Verdict.OK, report.detail
    assert "verifier_note" not in report.details


async def test_wildcard_certificate(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf("*.example.test")
    server = await serve(context=tls_context(leaf, pki.intermediate))
    covered = await run(
        prober, target_for(pki, server.port, host="127.0.0.1", server_name="a.example.test")
    )
    assert covered.verdict is Verdict.OK, covered.detail
    deeper = await run(
        prober, target_for(pki, server.port, host="127.0.0.1", server_name="a.b.example.test")
    )
    assert deeper.verdict is Verdict.HOSTNAME_MISMATCH, deeper.detail
    bare = await run(
        prober, target_for(pki, server.port, host="127.0.0.1", server_name="example.test")
    )
    assert bare.verdict is Verdict.HOSTNAME_MISMATCH, bare.detail


async def test_international_host_name(pki, prober, serve, tls_context) -> None:
    # IDNA 2008: ß is a letter of its own (xn--strae-oqa), not "ss" as IDNA 2003 would have it.
    leaf = pki.leaf("xn--strae-oqa.example.test")
    context = tls_context(leaf, pki.intermediate)
    names = record_sni(context)
    handler = HttpHandler()
    server = await serve(handler, context=context)
    target = parse_target(
        f"https://straße.example.test:{server.port}",
        address="127.0.0.1",
        ca_file=str(pki.root_file),
    )
    report = await run(prober, target, check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert names == ["xn--strae-oqa.example.test"]
    assert b"Host: xn--strae-oqa.example.test:" in handler.requests[-1]
    elsewhere = parse_target(
        f"https://strasse.example.test:{server.port}",
        address="127.0.0.1",
        ca_file=str(pki.root_file),
    )
    assert (await run(prober, elsewhere)).verdict is Verdict.HOSTNAME_MISMATCH


async def test_ip_address_certificate(pki, prober, serve, tls_context) -> None:
    leaf = pki.leaf("127.0.0.1")
    server = await serve(context=tls_context(leaf, pki.intermediate))
    target = Target(host="127.0.0.1", port=server.port, ca_file=str(pki.root_file))
    report = await run(prober, target, check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.leaf is not None
    assert report.leaf.sans == ("127.0.0.1",)
    assert report.timings.dns_ms is None
    other = await run(prober, Target(host="127.0.0.1", port=server.port))
    assert other.verdict is Verdict.INCOMPLETE_CHAIN  # without the test root


async def test_ip_target_against_dns_certificate(pki, prober, serve, tls_context) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    target = Target(host="127.0.0.1", port=server.port, ca_file=str(pki.root_file))
    report = await run(prober, target)
    assert report.verdict is Verdict.HOSTNAME_MISMATCH
    assert report.details["expected_name"] == "127.0.0.1"


async def test_sni_selects_certificate(pki, prober, serve, tls_context) -> None:
    first = pki.leaf("one.example.test")
    second = pki.leaf("two.example.test")
    default = tls_context(first, pki.intermediate)
    alternative = tls_context(second, pki.intermediate)

    def pick(ssl_object: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        if name == "two.example.test":
            ssl_object.context = alternative

    default.sni_callback = pick
    names = record_sni(default)
    handler = HttpHandler()
    server = await serve(handler, context=default)
    one = await run(prober, target_for(pki, server.port, host="one.example.test"))
    two = await run(prober, target_for(pki, server.port, host="two.example.test"))
    assert one.verdict is Verdict.OK, one.detail
    assert two.verdict is Verdict.OK, two.detail
    assert one.leaf is not None
    assert two.leaf is not None
    assert one.leaf.sans == ("one.example.test",)
    assert two.leaf.sans == ("two.example.test",)
    # Host names through a server_name: SNI is the server name, not the host.
    three = await run(
        prober,
        target_for(pki, server.port, host="127.0.0.1", server_name="two.example.test"),
        check_http=True,
    )
    assert three.verdict is Verdict.OK, three.detail
    assert names == ["one.example.test", "two.example.test", "two.example.test"]
    assert b"Host: two.example.test:" in handler.requests[-1]


async def test_tls13_only(pki, prober, serve, tls_context) -> None:
    context = tls_context(pki.leaf(HOST), pki.intermediate, minimum=ssl.TLSVersion.TLSv1_3)
    server = await serve(context=context)
    report = await run(prober, target_for(pki, server.port), scan_legacy=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.tls_version == "TLSv1.3"
    assert report.protocols.tls1_3 is True
    assert report.protocols.tls1_0 is False
    assert report.protocols.tls1_1 is False
    assert report.cipher is not None


async def test_tls12_only(pki, prober, serve, tls_context) -> None:
    context = tls_context(pki.leaf(HOST), pki.intermediate, maximum=ssl.TLSVersion.TLSv1_2)
    server = await serve(context=context)
    report = await run(prober, target_for(pki, server.port), scan_legacy=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.tls_version == "TLSv1.2"
    assert report.protocols.tls1_3 is False
    assert report.protocols.legacy_enabled is False


async def test_legacy_tls10_accepted(pki, prober, serve, tls_context) -> None:
    context = tls_context(pki.leaf(HOST), pki.intermediate, legacy=True)
    server = await serve(context=context)
    report = await run(prober, target_for(pki, server.port), scan_legacy=True, check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.protocols.tls1_0 is True, "this OpenSSL build refuses TLS 1.0 on one side"
    assert report.protocols.tls1_1 is True
    assert report.protocols.tls1_3 is True
    assert report.protocols.legacy_enabled
    assert report.http is not None
    assert report.http.status == 200


async def test_handshake_failed_tls10_only_server(pki, prober, serve, tls_context) -> None:
    """A server that only speaks TLS 1.0 refuses the modern client: a TLS alert."""
    context = tls_context(
        pki.leaf(HOST), pki.intermediate, legacy=True, maximum=ssl.TLSVersion.TLSv1
    )
    server = await serve(alerting_tls(context))
    report = await run(prober, target_for(pki, server.port), scan_legacy=True)
    assert report.verdict is Verdict.HANDSHAKE_FAILED, report.detail
    assert report.details["reason"] in {"unsupported protocol", "tlsv1 alert protocol version"}
    assert report.details["reason"] in report.detail
    assert report.protocols.tls1_0 is True
    assert report.protocols.tls1_1 is False
    assert "only obsolete TLS 1.0" in report.detail
    assert report.chain == ()


async def test_handshake_failed_alert(pki, prober, serve, tls_context) -> None:
    """A server that requires a client certificate aborts the handshake with an alert."""
    context = tls_context(pki.leaf(HOST), pki.intermediate, maximum=ssl.TLSVersion.TLSv1_2)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.root_file))
    server = await serve(alerting_tls(context))
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED, report.detail
    assert "alert" in report.detail
    assert report.details["reason"]


async def test_connection_refused(pki, prober) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = await run(prober, target_for(pki, port))
    assert report.verdict is Verdict.CONNECTION_REFUSED, report.detail
    assert report.timings.connect_ms is None
    assert str(port) in report.detail


async def test_timeout_silent_server(pki, prober, serve) -> None:
    server = await serve(silent)
    started = time.perf_counter()
    report = await prober.probe(target_for(pki, server.port), ProbeOptions(timeout=0.5))
    elapsed = time.perf_counter() - started
    assert report.verdict is Verdict.TIMEOUT, report.detail
    assert elapsed < 1.0  # within twice the budget
    assert report.timings.connect_ms is not None
    assert report.timings.tls_ms is None


async def test_dns_failure(prober) -> None:
    report = await run(prober, Target(host="no-such-host.invalid"))
    assert report.verdict is Verdict.DNS_FAILURE, report.detail
    assert "no-such-host.invalid" in report.detail
    assert report.address is None


async def test_plain_http_on_tls_port(pki, prober, serve) -> None:
    server = await serve(plain_http)
    report = await run(prober, target_for(pki, server.port), scan_legacy=True)
    assert report.verdict is Verdict.HANDSHAKE_FAILED, report.detail
    assert "server answered plain HTTP, not TLS" in report.detail


async def test_server_closes_during_handshake(pki, prober, serve) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)

    server = await serve(hang_up)
    report = await run(prober, target_for(pki, server.port))
    assert report.verdict is Verdict.HANDSHAKE_FAILED, report.detail
    assert "closed" in report.detail or "reset" in report.detail


async def test_pinned_address_without_dns(pki, prober, serve, tls_context) -> None:
    """A name nobody can resolve, pinned to 127.0.0.1: no DNS, SNI and name check on the name."""
    handler = HttpHandler()
    context = tls_context(pki.leaf(HOST), pki.intermediate)
    names = record_sni(context)
    server = await serve(handler, context=context)
    report = await run(prober, target_for(pki, server.port), check_http=True)
    assert report.verdict is Verdict.OK, report.detail
    assert report.timings.dns_ms is None
    assert report.address == "127.0.0.1"
    assert names == [HOST]
    assert b"Host: hass.example.test:" in handler.requests[0]


async def test_unreadable_ca_file_is_reported_not_raised(pki, prober, serve, tls_context) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    missing = str(pki.directory / "missing.pem")
    report = await run(prober, target_for(pki, server.port, ca_file=missing))
    assert report.verdict is Verdict.INCOMPLETE_CHAIN, report.detail
    assert "missing.pem" in report.detail
    assert "missing.pem" in report.details["ca_file_error"]
    garbage = pki.directory / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    report = await run(prober, target_for(pki, server.port, ca_file=str(garbage)))
    assert report.verdict is Verdict.INCOMPLETE_CHAIN
    assert "no readable certificate" in report.details["ca_file_error"]


async def test_ca_file_reloaded_when_changed(pki, prober, serve, tls_context, tmp_path) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(Pki(tmp_path, label="Unrelated").root.pem)
    first = await run(prober, target_for(pki, server.port, ca_file=str(ca_file)))
    assert first.verdict is Verdict.INCOMPLETE_CHAIN
    ca_file.write_bytes(pki.root.pem + pki.root.pem)  # new size, so a new stamp
    second = await run(prober, target_for(pki, server.port, ca_file=str(ca_file)))
    assert second.verdict is Verdict.OK, second.detail


@pytest.fixture
def allow_ipv6_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """phcc only lets sockets connect to 127.0.0.1; this test needs ::1 too."""
    if not ipv6_available():
        pytest.skip("::1 cannot be bound on this machine")
    monkeypatch.setattr(socket.socket, "connect", pytest_socket._true_connect)


@pytest.mark.usefixtures("allow_ipv6_loopback")
async def test_ipv6_loopback(pki, prober, serve, tls_context) -> None:
    context = tls_context(pki.leaf(HOST, "::1"), pki.intermediate)
    server = await serve(context=context, host="::1")
    literal = await run(
        prober, Target(host="::1", port=server.port, ca_file=str(pki.root_file)), check_http=True
    )
    assert literal.verdict is Verdict.OK, literal.detail
    assert literal.address == "::1"
    assert literal.http is not None
    assert literal.http.status == 200
    pinned = await run(prober, target_for(pki, server.port, address="::1"))
    assert pinned.verdict is Verdict.OK, pinned.detail
    assert pinned.address == "::1"


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (OSError(errno.ENETUNREACH, "Network is unreachable"), Verdict.NETWORK_UNREACHABLE),
        (OSError(errno.EHOSTUNREACH, "No route to host"), Verdict.NETWORK_UNREACHABLE),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign address"), Verdict.NETWORK_UNREACHABLE),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), Verdict.CONNECTION_REFUSED),
    ],
)
async def test_connect_errors_classified(pki, prober, monkeypatch, error, verdict) -> None:
    """Routing errors cannot be provoked on loopback; the socket error is injected."""

    async def fail(*args: object) -> socket.socket:
        raise error

    monkeypatch.setattr(engine, "open_tcp", fail)
    report = await run(prober, target_for(pki, 443, address="192.0.2.1"))
    assert report.verdict is verdict, report.detail
    assert "192.0.2.1:443" in report.detail
    assert report.address is None


@pytest.mark.usefixtures("loopback_range")
async def test_first_address_failing_then_next_connects(
    pki, prober, serve, tls_context, monkeypatch
) -> None:
    """Addresses are tried in order until one connects; then the other is checked on its own."""
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    real_open_tcp = engine.open_tcp
    tried: list[object] = []

    async def flaky(family: socket.AddressFamily, sockaddr: tuple[str, int]) -> socket.socket:
        tried.append(sockaddr)
        if len(tried) == 1:
            raise OSError(errno.EHOSTUNREACH, "No route to host")
        return await real_open_tcp(family, sockaddr)

    async def two_addresses(*args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", server.port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", server.port)),
        ]

    monkeypatch.setattr(engine, "open_tcp", flaky)
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
    report = await run(prober, Target(host=HOST, port=server.port, ca_file=str(pki.root_file)))
    assert report.verdict is Verdict.OK, report.detail
    # in order until one connects, then the other address on its own
    main_connection, per_address = tried[:2], tried[2:]
    assert main_connection == [("127.0.0.2", server.port), ("127.0.0.1", server.port)]
    assert per_address == [("127.0.0.2", server.port)]
    assert report.address == "127.0.0.1"
    assert [(check.address, check.verdict) for check in report.addresses] == [
        ("127.0.0.1", Verdict.OK),
        ("127.0.0.2", Verdict.CONNECTION_REFUSED),
    ]
    assert report.timings.dns_ms is not None


async def test_concurrency_is_bounded(pki, serve, tls_context) -> None:
    prober = await Prober.create(max_concurrent=2)
    server = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    target = Target(host=HOST, port=server.port, address="127.0.0.1", ca_file=str(pki.root_file))
    running = peak = 0
    inner = prober._probe

    async def counted(*args, **kwargs):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return await inner(*args, **kwargs)
        finally:
            running -= 1

    prober._probe = counted
    reports = await asyncio.gather(
        *(prober.probe(target, ProbeOptions(scan_legacy=False, check_http=False)) for _ in range(8))
    )
    assert [report.verdict for report in reports] == [Verdict.OK] * 8
    assert peak == 2
