"""Nobody can steer the proxy check's advice: a stranger forging requests, an endpoint replaying."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
from pathlib import Path
import shutil
import ssl
import subprocess

import aiohttp
import pytest

from tests.certs import Pki
from tests.conftest import StartServer

from .hass_process import HassProcess, run_hass
from .proxies import ProxyFactory, ProxyKind, ProxyMode, proxy_binary

pytestmark = pytest.mark.timeout(240)

PROXY_ADDRESS = "127.0.0.5"
STRANGER_ADDRESS = "127.0.0.9"
FORGERS = 16
CHECKS = 5
# A global address (not private, not reserved) put on the loopback interface for one test.
PUBLIC_ADDRESS = "11.22.33.44"


def nginx_or_haproxy() -> ProxyKind:
    for kind in (ProxyKind.NGINX, ProxyKind.HAPROXY):
        if proxy_binary(kind):
            return kind
    pytest.skip("no reverse proxy that binds a source address is installed (scripts/setup)")


@contextlib.asynccontextmanager
async def stranger_forging(hass: HassProcess) -> AsyncIterator[Callable[[], int]]:
    """A device on the LAN sending X-Forwarded-For straight to Home Assistant, again and again."""
    sent = 0
    busy = asyncio.Event()
    connector = aiohttp.TCPConnector(local_addr=(STRANGER_ADDRESS, 0), limit=FORGERS)

    async def forge(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while True:
            async with session.get(
                f"http://127.0.0.1:{hass.port}/api/",
                headers={"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https"},
            ) as response:
                assert response.status == 400
            sent += 1
            if sent >= FORGERS:
                busy.set()

    async with aiohttp.ClientSession(connector=connector) as session:
        # Several at once, so that one of them is refused right after each request of a check.
        tasks = [asyncio.create_task(forge(session)) for _ in range(FORGERS)]
        try:
            async with asyncio.timeout(10):
                await busy.wait()
            yield lambda: sent
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def placeholders_of(issues: list[dict[str, object]]) -> str:
    return json.dumps([issue["translation_placeholders"] for issue in issues])


@pytest.mark.parametrize(
    ("http", "repair"),
    [
        ({"use_x_forwarded_for": False}, "reverse_proxy_support_disabled"),
        (
            {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1/32"]},
            "reverse_proxy_not_trusted",
        ),
    ],
)
async def test_a_stranger_forging_requests_during_the_check_is_never_named(
    tmp_path: Path,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    http: dict[str, object],
    repair: str,
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    async with run_hass(tmp_path / "config", http=http) as hass:
        proxy = await reverse_proxy(
            nginx_or_haproxy(),
            ProxyMode.GOOD,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address=PROXY_ADDRESS,
        )
        entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
        seen: list[dict[str, object]] = []
        async with stranger_forging(hass) as forged:
            for _ in range(CHECKS):
                before = forged()
                await hass.rest("POST", "/api/services/tls_health/check_now", {})
                assert forged() > before  # the stranger was refused while the check ran
                seen += await hass.issues()
            issues = await hass.issues()
        entities = await hass.entities(entry_id)
        state = await hass.state(entities["reverse_proxy"])
    found = {issue["translation_key"]: issue for issue in issues}
    assert state == repair.removeprefix("reverse_proxy_").replace(
        "not_trusted", "proxy_not_trusted"
    )
    assert found[repair]["translation_placeholders"]["proxy_address"] == PROXY_ADDRESS
    assert found[repair]["translation_placeholders"]["trusted_entry"] == f"{PROXY_ADDRESS}/32"
    # after no check was the stranger named or advised: its refusals are counted at most
    assert STRANGER_ADDRESS not in placeholders_of(seen)


class ReplayingEndpoint:
    """A watched HTTPS server that is not Home Assistant but replays what it gets to it.

    Each request is sent on to Home Assistant's own port with headers of its choosing (no
    X-Forwarded-For), and its answer's status is passed back: a nonce it is handed would reach
    the self-probe view as if a proxy in front of Home Assistant had forwarded it.
    """

    def __init__(self, hass_port: int) -> None:
        self.hass_port = hass_port
        self.paths: list[str] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        self.paths.append(path)
        if b"upgrade:" in head.lower():
            status = 400  # no WebSocket relayed: as if the path blocked it
        else:
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    method,
                    f"http://127.0.0.1:{self.hass_port}{path}",
                    headers={"X-Forwarded-Proto": "https", "Host": "hass.example.test"},
                ) as response,
            ):
                status = response.status
        writer.write(f"HTTP/1.1 {status} Replayed\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()


async def test_a_watched_endpoint_replaying_the_nonce_steers_nothing(
    tmp_path: Path,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        replaying = ReplayingEndpoint(hass.port)
        server = await serve(replaying, context=tls_context(pki.leaf(), pki.intermediate))
        entry_id = await hass.watch(server.port, pki.root_file)
        for _ in range(2):
            await hass.rest("POST", "/api/services/tls_health/check_now", {})
        issues = await hass.issues()
        entities = await hass.entities(entry_id)
        diagnostics = await hass.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
    assert replaying.paths  # it was checked (GET /)
    assert not any("self_probe" in path for path in replaying.paths)  # but handed no nonce
    assert issues == []
    assert "reverse_proxy" not in entities
    assert diagnostics["data"]["reverse_proxy"] is None


@pytest.fixture
def public_address_on_loopback() -> AsyncIterator[str]:
    """Put PUBLIC_ADDRESS on `lo` for a proxy to connect from; skip where that is not allowed."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    add = subprocess.run(  # noqa: S603 - a fixed command
        [ip, "address", "add", f"{PUBLIC_ADDRESS}/32", "dev", "lo"],
        capture_output=True,
        check=False,
    )
    if add.returncode != 0 and b"File exists" not in add.stderr:
        pytest.skip(f"cannot add an address to lo: {add.stderr.decode(errors='replace')}")
    try:
        yield PUBLIC_ADDRESS
    finally:
        subprocess.run(  # noqa: S603 - a fixed command
            [ip, "address", "del", f"{PUBLIC_ADDRESS}/32", "dev", "lo"],
            capture_output=True,
            check=False,
        )


async def test_a_public_proxy_address_is_never_advised_for_trust(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory, public_address_on_loopback: str
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        proxy = await reverse_proxy(
            nginx_or_haproxy(),
            ProxyMode.GOOD,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address=public_address_on_loopback,
        )
        await hass.watch(proxy.port, pki.root_file, leads_here=True)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        issues = await hass.issues()
    found = {issue["translation_key"]: issue for issue in issues}
    assert set(found) == {"reverse_proxy_not_trusted_public"}
    placeholders = found["reverse_proxy_not_trusted_public"]["translation_placeholders"]
    assert placeholders["proxy_address"] == public_address_on_loopback
