"""Every address of a name: Happy Eyeballs past a black hole, then each address checked on its own.

Tests cannot use DNS: the engine's `lookup` hook answers with loopback addresses (127.0.0.1 and
127.0.0.2 are both this machine on Linux), each with the port of its own test server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from datetime import timedelta
import socket
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
import pytest

from custom_components.tls_health.probe import (
    ProbeOptions,
    Prober,
    ProbeReport,
    Target,
    Verdict,
    engine,
    parse_target,
)
from custom_components.tls_health.probe._cli import format_report
from tests.certs import NOW, Pki
from tests.daemons import Mosquitto, cert_files, installed, running, service_directory
from tests.servers import Server, black_hole, plain_http

from .conftest import CallbackWatch
from .test_protocol_servers import HOST as SERVICE_HOST, MOSQUITTO_CLOSED, assert_clean
from .test_verdicts import HOST, run

pytestmark = pytest.mark.usefixtures("loopback_range")


def resolves_to(monkeypatch: pytest.MonkeyPatch, *addresses: tuple[str, int]) -> list[str]:
    """Make HOST resolve to these (address, port) pairs, in this order; return the lookups."""
    looked_up: list[str] = []

    async def lookup(host: str, port: int) -> list[tuple[Any, ...]]:
        looked_up.append(host)
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr)
            for ip, sockaddr in ((ip, (ip, p)) for ip, p in addresses)
        ]

    monkeypatch.setattr(engine, "lookup", lookup)
    return looked_up


def by_name(pki: Pki) -> Target:
    return Target(host=HOST, port=443, ca_file=str(pki.root_file))


def outcomes(report: ProbeReport) -> list[tuple[str, Verdict, bool]]:
    return [(check.address, check.verdict, check.main) for check in report.addresses]


async def two_servers(
    pki: Pki, serve: Callable[..., Any], tls_context: Callable[..., Any], *second: Any
) -> tuple[Server, Server]:
    leaf = pki.leaf(HOST)
    first = await serve(context=tls_context(leaf, pki.intermediate))
    other = await serve(
        context=tls_context(*(second or (leaf, pki.intermediate))), host="127.0.0.2"
    )
    return first, other


async def test_both_addresses_serve_the_same_certificate(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    first, second = await two_servers(pki, serve, tls_context)
    resolves_to(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    report = await run(prober, by_name(pki))
    assert report.verdict is Verdict.OK, report.detail
    assert outcomes(report) == [
        ("127.0.0.1", Verdict.OK, True),
        ("127.0.0.2", Verdict.OK, False),
    ]
    main, other = report.addresses
    assert main.sha256 == other.sha256 == report.chain[0].sha256
    assert other.tls_ms is not None
    assert (first.connections, second.connections) == (1, 1)
    # one chain for both: the report is the lowest address's, and names none
    assert [check.reported for check in report.addresses] == [True, False]
    assert "127.0.0" not in report.detail
    data = report.as_dict()
    assert data["addresses_left_out"] == 0
    assert data["addresses"][1] == {
        "address": "127.0.0.2",
        "verdict": "ok",
        "detail": report.detail,
        "main": False,
        "reported": False,
        "sha256": report.chain[0].sha256,
        "not_before": report.chain[0].not_before.isoformat(),
        "not_after": report.chain[0].not_after.isoformat(),
        "tls_ms": other.tls_ms,
    }


async def test_second_address_serves_an_expired_certificate(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    expired = pki.leaf(HOST, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2))
    first, second = await two_servers(pki, serve, tls_context, expired, pki.intermediate)
    resolves_to(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    report = await run(prober, by_name(pki))
    assert outcomes(report) == [
        ("127.0.0.1", Verdict.OK, True),
        ("127.0.0.2", Verdict.CERTIFICATE_EXPIRED, False),
    ]
    other = report.addresses[1]
    assert other.sha256 == expired.cert.fingerprint(hashes.SHA256()).hex()
    assert other.not_after == expired.cert.not_valid_after_utc
    # The state is the worst address's, whichever address the connection used.
    assert report.verdict is Verdict.CERTIFICATE_EXPIRED
    assert report.address == "127.0.0.1"
    assert [check.reported for check in report.addresses] == [False, True]
    assert report.leaf is not None
    assert report.leaf.sha256 == other.sha256
    assert report.earliest_expiry == other.not_after
    assert report.detail.startswith("127.0.0.2: ")
    assert report.details["days_expired"] == "2"


async def test_black_holed_first_address_is_not_a_timeout(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    with black_hole("127.0.0.2") as silent_port:
        resolves_to(monkeypatch, ("127.0.0.2", silent_port), ("127.0.0.1", server.port))
        started = time.perf_counter()
        report = await run(prober, by_name(pki), timeout=3)
        elapsed = time.perf_counter() - started
    assert report.verdict is Verdict.OK, report.detail
    assert report.address == "127.0.0.1"
    # the second address was tried a quarter second after the first, not after its whole budget
    assert report.timings.connect_ms is not None
    assert 200 < report.timings.connect_ms < 2000
    assert outcomes(report) == [
        ("127.0.0.1", Verdict.OK, True),
        ("127.0.0.2", Verdict.TIMEOUT, False),
    ]
    assert elapsed < 3 + 2  # the silent address's own check is bounded by the budget


async def test_every_address_silent_is_a_timeout(prober: Prober, pki, monkeypatch) -> None:
    with black_hole("127.0.0.2") as first, black_hole("127.0.0.3") as second:
        resolves_to(monkeypatch, ("127.0.0.2", first), ("127.0.0.3", second))
        report = await run(prober, by_name(pki), timeout=1)
    assert report.verdict is Verdict.TIMEOUT
    assert report.addresses == ()


async def test_at_most_four_addresses_are_checked(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    leaf = pki.leaf(HOST)
    servers = [
        await serve(context=tls_context(leaf, pki.intermediate), host=f"127.0.0.{index}")
        for index in range(1, 7)
    ]
    resolves_to(monkeypatch, *((server.host, server.port) for server in servers))
    report = await run(prober, by_name(pki))
    assert [check.address for check in report.addresses] == [
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
    ]
    assert [server.connections for server in servers] == [1, 1, 1, 1, 0, 0]
    assert report.addresses_left_out == 2
    assert report.as_dict()["addresses_left_out"] == 2
    assert "  and 2 more, not checked" in format_report(report).splitlines()


async def test_at_most_eight_addresses_are_raced(
    pki, prober: Prober, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten addresses that never answer: eight connection attempts (eight sockets), not ten."""
    monkeypatch.setattr(engine, "CONNECT_DELAY", 0.01)
    attempted: list[str] = []
    open_tcp = engine.open_tcp

    async def counted(family: socket.AddressFamily, sockaddr: Any) -> socket.socket:
        attempted.append(sockaddr[0])
        return await open_tcp(family, sockaddr)

    monkeypatch.setattr(engine, "open_tcp", counted)
    with contextlib.ExitStack() as stack:
        holes = [
            (f"127.0.0.{index}", stack.enter_context(black_hole(f"127.0.0.{index}")))
            for index in range(2, 12)
        ]
        resolves_to(monkeypatch, *holes)
        report = await run(prober, by_name(pki), timeout=0.5)
    assert report.verdict is Verdict.TIMEOUT
    assert attempted == [address for address, _ in holes[:8]]
    assert report.addresses_left_out == 2
    assert format_report(report).splitlines()[-1] == "Addresses: 2 more of this name not tried"


async def test_thousands_of_addresses_cost_the_loop_little(
    pki, prober: Prober, loop_stall_watch: CallbackWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with 4,000 A records (a DNS answer over TCP holds that many): eight are raced,
    the rest counted, and no loop callback spends more than the loop's budget on them."""
    loop_stall_watch.limit = 0.05
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        addresses = [(f"127.0.{index // 250}.{index % 250 + 1}", port) for index in range(4000)]
        resolves_to(monkeypatch, *addresses, *addresses[:100])  # duplicates count once
        report = await run(prober, by_name(pki), timeout=2)
    assert report.verdict is Verdict.CONNECTION_REFUSED
    assert report.addresses_left_out == 4000 - 8


async def test_the_state_does_not_depend_on_which_address_wins(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    """Whichever address the connection reaches first, the report describes the same certificate."""
    expired = pki.leaf(HOST, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2))
    first, second = await two_servers(pki, serve, tls_context, expired, pki.intermediate)
    seen = []
    for order in ((first, second), (second, first), (first, second)):
        resolves_to(monkeypatch, *((server.host, server.port) for server in order))
        report = await run(prober, by_name(pki))
        assert report.address == order[0].host  # the race's winner
        assert report.leaf is not None
        seen.append(
            (
                report.verdict,
                report.detail,
                report.leaf.sha256,
                report.lifetime,
                {key: value for key, value in report.details.items() if key != "port"},
                sorted(
                    (check.address, check.verdict, check.reported) for check in report.addresses
                ),
            )
        )
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0] is Verdict.CERTIFICATE_EXPIRED


async def test_valid_certificates_report_the_one_expiring_first(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    """Both valid: the report is the certificate that expires first, with its revocation status
    (the CA is asked about that chain, not the connection's)."""
    sooner = pki.leaf(HOST, not_after=NOW + timedelta(days=20))
    first, second = await two_servers(pki, serve, tls_context, sooner, pki.intermediate)
    resolves_to(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    report = await run(prober, by_name(pki))
    assert report.verdict is Verdict.OK, report.detail
    assert report.address == "127.0.0.1"
    assert report.leaf is not None
    assert report.leaf.not_after == sooner.cert.not_valid_after_utc
    assert [check.reported for check in report.addresses] == [False, True]
    assert report.revocation is not None
    assert report.revocation.serial == report.leaf.serial


async def test_an_address_failing_its_handshake_does_not_decide_the_state(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    """The connection reaches an address answering plain HTTP; the other serves a good chain:
    the state is that chain's, and the silent address is the address repair's business."""
    plain = await serve(plain_http)
    good = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate), host="127.0.0.2")
    resolves_to(monkeypatch, ("127.0.0.1", plain.port), ("127.0.0.2", good.port))
    report = await run(prober, by_name(pki))
    assert report.verdict is Verdict.OK, report.detail
    assert report.address == "127.0.0.1"
    assert report.leaf is not None
    assert "reason" not in report.details
    assert outcomes(report) == [
        ("127.0.0.1", Verdict.HANDSHAKE_FAILED, True),
        ("127.0.0.2", Verdict.OK, False),
    ]
    assert [check.reported for check in report.addresses] == [False, True]
    assert "plain HTTP" in report.addresses[0].detail


async def test_slow_goodbye_on_another_address_keeps_its_chain(
    pki, prober: Prober, serve, tls_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SMTPS server on the second address greets long after its handshake: the goodbye is
    capped on its own, and the address keeps the chain it served."""
    monkeypatch.setattr(engine, "ADDRESS_TIMEOUT", 0.6)
    monkeypatch.setattr(engine, "GOODBYE_TIMEOUT", 0.3)

    def smtps(delay: float) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(delay)
            writer.write(b"220 mail.example.test ESMTP\r\n")
            await reader.readline()
            writer.write(b"221 bye\r\n")
            await writer.drain()
            await reader.read()

        return handle

    leaf = pki.leaf(SERVICE_HOST)
    quick = await serve(smtps(0), context=tls_context(leaf, pki.intermediate))
    slow = await serve(smtps(2), context=tls_context(leaf, pki.intermediate), host="127.0.0.2")
    resolves_to(monkeypatch, ("127.0.0.1", quick.port), ("127.0.0.2", slow.port))
    target = parse_target(f"smtps://{SERVICE_HOST}:{quick.port}", ca_file=str(pki.root_file))
    started = time.perf_counter()
    report = await prober.probe(target, ProbeOptions(timeout=5))
    assert time.perf_counter() - started < 1.5
    assert report.verdict is Verdict.OK, report.detail
    main, other = report.addresses
    assert other.verdict is Verdict.OK, other.detail
    assert other.sha256 == main.sha256
    assert other.tls_ms is not None
    assert other.tls_ms < 600


async def test_one_address_has_no_address_list(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    looked_up = resolves_to(monkeypatch, ("127.0.0.1", server.port))
    report = await run(prober, by_name(pki))
    assert looked_up == [HOST]
    assert report.verdict is Verdict.OK
    assert report.addresses == ()
    assert report.as_dict()["addresses"] == []


async def test_command_line_lists_every_address(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    expired = pki.leaf(HOST, not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2))
    first, second = await two_servers(pki, serve, tls_context, expired, pki.intermediate)
    resolves_to(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    report = await run(prober, by_name(pki))
    lines = format_report(report).splitlines()
    start = lines.index("Addresses:")
    main, other = lines[start + 1 : start + 3]
    assert main.split()[:2] == ["127.0.0.1", "ok"]
    assert main.endswith("OTHER certificate  (this probe's connection)")
    assert other.split()[:2] == ["127.0.0.2", "certificate_expired"]
    assert other.endswith("(the report's certificate)")
    assert "127.0.0.2: " in lines[1]  # the report's detail says which address it is about


async def test_address_answering_plain_http_fails_its_handshake(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    server = await serve(context=tls_context(pki.leaf(HOST), pki.intermediate))
    plain = await serve(plain_http, host="127.0.0.2")
    resolves_to(monkeypatch, ("127.0.0.1", server.port), ("127.0.0.2", plain.port))
    report = await run(prober, by_name(pki))
    assert outcomes(report) == [
        ("127.0.0.1", Verdict.OK, True),
        ("127.0.0.2", Verdict.HANDSHAKE_FAILED, False),
    ]
    assert "127.0.0.2" in report.addresses[1].detail


async def test_attempts_started_together_leave_no_socket_open(
    pki, prober: Prober, serve, tls_context, monkeypatch
) -> None:
    """Both addresses connect at once: one socket wins, the other is closed (no descriptor left)."""
    monkeypatch.setattr(engine, "CONNECT_DELAY", 0)
    first, second = await two_servers(pki, serve, tls_context)
    resolves_to(monkeypatch, ("127.0.0.1", first.port), ("127.0.0.2", second.port))
    for _ in range(5):
        report = await run(prober, by_name(pki))
        assert report.verdict is Verdict.OK, report.detail
        assert len(report.addresses) == 2


async def test_race_closes_every_socket_but_the_winner(monkeypatch) -> None:
    """Two attempts that connect in the same turn of the loop: one wins, the other is closed."""
    made: list[socket.socket] = []
    both_started = asyncio.Event()

    async def connected_together(family: socket.AddressFamily, _: object) -> socket.socket:
        made.append(sock := socket.socket(family, socket.SOCK_STREAM))
        if len(made) == 2:
            both_started.set()
        await both_started.wait()
        return sock

    monkeypatch.setattr(engine, "open_tcp", connected_together)
    monkeypatch.setattr(engine, "CONNECT_DELAY", 0.01)
    addresses = [(socket.AF_INET, ("127.0.0.1", 443)), (socket.AF_INET, ("127.0.0.2", 443))]
    sock, address, failure = await engine._race(addresses)
    try:
        assert sock is not None
        assert failure is None
        assert len(made) == 2
        assert [other.fileno() for other in made if other is not sock] == [-1]
        assert address == addresses[made.index(sock)]
    finally:
        for other in made:
            other.close()


def test_families_alternate_first_family_first() -> None:
    v6 = [(socket.AF_INET6, (f"2001:db8::{n}", 443, 0, 0)) for n in (1, 2, 3)]
    v4 = [(socket.AF_INET, (f"192.0.2.{n}", 443)) for n in (1, 2)]
    interleaved = engine._interleaved([*v6, *v4])
    assert interleaved == [v6[0], v4[0], v6[1], v4[1], v6[2]]
    assert engine._interleaved([v4[0], *v6]) == [v4[0], v6[0], v6[1], v6[2]]


@pytest.mark.skipif(not installed("mosquitto"), reason="mosquitto not installed")
async def test_mqtt_broker_behind_one_address_serves_an_expired_certificate(
    pki, prober: Prober, monkeypatch
) -> None:
    """The classic: one listener of an MQTT name still serves the expired certificate. Each
    address gets its own session, and neither broker logs an error."""
    with service_directory() as good_dir, service_directory() as expired_dir:
        good_files = cert_files(pki, good_dir, SERVICE_HOST)
        expired_files = cert_files(pki, expired_dir, SERVICE_HOST, expired=True)
        with (
            running(Mosquitto(good_dir, good_files)) as good,
            running(Mosquitto(expired_dir, expired_files)) as stale,
        ):
            since = (good.mark(), stale.mark())
            resolves_to(monkeypatch, ("127.0.0.1", good.port), ("127.0.0.1", stale.port))
            target = parse_target(f"mqtts://{SERVICE_HOST}:{good.port}", ca_file=str(pki.root_file))
            report = await prober.probe(target, ProbeOptions(timeout=5))
            assert report.verdict is Verdict.CERTIFICATE_EXPIRED, report.detail
            assert [check.verdict for check in report.addresses] == [
                Verdict.OK,
                Verdict.CERTIFICATE_EXPIRED,
            ]
            for broker, mark in zip((good, stale), since, strict=True):
                assert_clean(broker, mark, MOSQUITTO_CLOSED)
