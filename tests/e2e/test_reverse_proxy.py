"""What a real Home Assistant receives, judged through real paths: directly, and via proxies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import itertools
from pathlib import Path
import re
import ssl

import aiohttp
import pytest

from tests.certs import Pki
from tests.conftest import StartServer

from .hass_process import HassProcess, free_port, run_hass
from .proxies import ProxyFactory, ProxyKind, ProxyMode, ReverseProxy, proxy_binary

pytestmark = pytest.mark.timeout(240)


async def test_home_assistant_serving_tls_itself_is_direct(tmp_path: Path, pki: Pki) -> None:
    chain, key = pki.server_files("hass", pki.leaf(), pki.intermediate)
    http = {"ssl_certificate": str(chain), "ssl_key": str(key)}
    async with run_hass(tmp_path / "config", http=http) as hass:
        entry_id = await hass.watch(hass.port, pki.root_file, leads_here=True)
        entities = await hass.entities(entry_id)
        assert await hass.state(entities["handshake"]) == "ok"
        assert await hass.state(entities["reverse_proxy"]) == "direct"
        assert await hass.issues() == []


def available_kinds(*kinds: ProxyKind) -> list[ProxyKind]:
    found = [kind for kind in kinds or ProxyKind if proxy_binary(kind)]
    if not found:
        pytest.skip("no reverse proxy is installed (scripts/setup installs them)")
    return found


async def watch_through_proxies(
    hass: HassProcess,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    modes: list[ProxyMode],
    *,
    kinds: list[ProxyKind] | None = None,
    source_address: str | None = "127.0.0.5",
) -> dict[tuple[ProxyKind, ProxyMode], str]:
    """Put each kind of proxy in each mode in front of hass, add an endpoint for each, check twice."""
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    entries: dict[tuple[ProxyKind, ProxyMode], str] = {}
    for kind in kinds or available_kinds(ProxyKind.NGINX, ProxyKind.HAPROXY):
        for mode in modes:
            proxy = await reverse_proxy(
                kind,
                mode,
                chain_file=chain,
                key_file=key,
                upstream_port=hass.port,
                source_address=source_address,
            )
            entries[kind, mode] = await hass.watch(proxy.port, pki.root_file, leads_here=True)
            PORTS[entries[kind, mode]] = proxy.port
    # the setup ran the first check; a finding is raised when the second agrees
    await hass.rest("POST", "/api/services/tls_health/check_now", {})
    return entries


# The proxy port of each entry, for requests a test sends itself.
PORTS: dict[str, int] = {}


async def proxy_states(
    hass: HassProcess, entries: dict[tuple[ProxyKind, ProxyMode], str]
) -> dict[tuple[ProxyKind, ProxyMode], tuple[str, list[str]]]:
    """reverse_proxy sensor state and open repair keys of each entry."""
    issues = await hass.issues()
    found = {}
    for where, entry_id in entries.items():
        entities = await hass.entities(entry_id)
        keys = sorted(
            issue["issue_id"].removesuffix(f"_{entry_id}")
            for issue in issues
            if issue["issue_id"].endswith(entry_id)
        )
        found[where] = (await hass.state(entities["reverse_proxy"]), keys)
    return found


async def believed_client(hass: HassProcess, proxy_port: int, source: str = "127.0.0.9") -> str:
    """The address Home Assistant believes a client at `source` has when it sends a forged
    X-Forwarded-For through the proxy: HA's own log of a request with a wrong token says it."""
    before = hass.log.read_text(errors="replace").count(INVALID_AUTH)
    connector = aiohttp.TCPConnector(ssl=False, local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as client,
        client.get(
            f"https://127.0.0.1:{proxy_port}/api/config",
            headers={
                "Host": f"hass.example.test:{proxy_port}",
                "Authorization": "Bearer not-a-token",
                "X-Forwarded-For": SPOOFED,
            },
        ) as response,
    ):
        assert response.status == 401, await response.text()
    async with asyncio.timeout(30):
        while True:
            lines = [
                line
                for line in hass.log.read_text(errors="replace").splitlines()
                if INVALID_AUTH in line
            ]
            if len(lines) > before:
                found = re.search(r"\(([^()]+)\)\. Requested URL", lines[-1])
                assert found, lines[-1]
                return found[1]
            await asyncio.sleep(0.1)


INVALID_AUTH = "Login attempt or request with invalid authentication from"
SPOOFED = "203.0.113.77"
HEADER_MODES = {
    ProxyMode.GOOD: ("ok", []),
    ProxyMode.NO_FORWARDED_FOR: ("forwarded_for_missing", ["forwarded_for_missing"]),
    ProxyMode.NO_FORWARDED_PROTO: ("forwarded_proto_missing", ["forwarded_proto_missing"]),
    ProxyMode.HOST_REWRITTEN: ("host_not_forwarded", ["host_not_forwarded"]),
    ProxyMode.NO_WEBSOCKET: ("websocket_blocked", ["websocket_not_proxied"]),
}


@pytest.mark.parametrize(
    ("source_address", "trusted", "kinds"),
    [
        # the proxy connects from its own loopback address, the only one trusted
        ("127.0.0.5", "127.0.0.5/32", (ProxyKind.NGINX, ProxyKind.HAPROXY)),
        # the documented setup on one host: proxy and checker both connect from 127.0.0.1
        (None, "127.0.0.1/32", tuple(ProxyKind)),
    ],
    ids=["proxy_bound", "same_host"],
)
async def test_proxy_header_problems(
    tmp_path: Path,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    source_address: str | None,
    trusted: str,
    kinds: tuple[ProxyKind, ...],
) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": [trusted]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        entries = await watch_through_proxies(
            hass,
            pki,
            reverse_proxy,
            list(HEADER_MODES),
            kinds=available_kinds(*kinds),
            source_address=source_address,
        )
        states = await proxy_states(hass, entries)
        # what an outside client gets: its own address, whatever it sends
        believed = {
            kind: await believed_client(hass, PORTS[entries[kind, ProxyMode.GOOD]])
            for kind, mode in entries
            if mode is ProxyMode.GOOD
        }
        traffic = [issue for issue in await hass.issues() if issue["issue_id"].endswith("_traffic")]
    assert states == {(kind, mode): HEADER_MODES[mode] for kind, mode in entries}
    assert believed == dict.fromkeys(believed, "127.0.0.9")
    assert traffic == []


async def test_a_proxy_passing_the_client_value_through_is_spoofable(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        entries = await watch_through_proxies(hass, pki, reverse_proxy, [ProxyMode.PASS_THROUGH])
        states = await proxy_states(hass, entries)
        believed = {
            where: await believed_client(hass, PORTS[entry]) for where, entry in entries.items()
        }
        issues = await hass.issues()
    assert states == dict.fromkeys(states, ("client_ip_spoofable", ["client_ip_spoofable"]))
    assert believed == dict.fromkeys(believed, SPOOFED)  # the truth, without the integration
    assert {issue["translation_key"] for issue in issues} == {"client_ip_spoofable"}


@pytest.mark.parametrize(
    ("http", "state", "keys"),
    [
        (
            {"use_x_forwarded_for": False},
            "support_disabled",
            ["reverse_proxy_support_disabled"],
        ),
        (
            {"use_x_forwarded_for": True, "trusted_proxies": ["10.9.9.9/32"]},
            "proxy_not_trusted",
            ["reverse_proxy_not_trusted"],
        ),
        (
            # the whole LAN, here all of loopback: the client is trusted as a proxy too
            {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.0/8"]},
            "client_ip_spoofable",
            ["client_ip_spoofable"],
        ),
    ],
    ids=["support_disabled", "proxy_not_trusted", "client_ip_spoofable"],
)
async def test_home_assistant_http_settings(
    tmp_path: Path,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    http: dict[str, object],
    state: str,
    keys: list[str],
) -> None:
    async with run_hass(tmp_path / "config", http=http) as hass:
        entries = await watch_through_proxies(hass, pki, reverse_proxy, [ProxyMode.GOOD])
        states = await proxy_states(hass, entries)
        issues = await hass.issues()
        believed = (
            {where: await believed_client(hass, PORTS[entry]) for where, entry in entries.items()}
            if state == "client_ip_spoofable"
            else {}
        )
    assert states == dict.fromkeys(states, (state, keys))
    assert [issue for issue in issues if issue["issue_id"].endswith("_traffic")] == []
    assert believed == dict.fromkeys(believed, SPOOFED)  # the truth, without the integration
    if state == "proxy_not_trusted":
        placeholders = next(
            issue["translation_placeholders"]
            for issue in issues
            if issue["translation_key"] == "reverse_proxy_not_trusted"
        )
        assert placeholders["trusted_entry"] == "127.0.0.5/32"
    if state == "client_ip_spoofable":
        spoofable = next(issue for issue in issues if issue["translation_key"].startswith("client"))
        assert spoofable["translation_key"] == "client_ip_spoofable_range"
        assert spoofable["translation_placeholders"]["networks"] == "127.0.0.0/8"


async def test_upstream_unreachable_is_its_own_repair_and_clears_nothing(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    kind = available_kinds()[0]
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.1/32", "127.0.0.5/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        proxy = await reverse_proxy(
            kind,
            ProxyMode.NO_WEBSOCKET,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address=None,
        )
        entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        entities = await hass.entities(entry_id)
        assert await hass.state(entities["reverse_proxy"]) == "websocket_blocked"

        await proxy.restart(free_port())  # nothing listens there: the proxy answers 502
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        assert await hass.state(entities["reverse_proxy"]) == "upstream_unreachable"
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        state = await hass.state(entities["reverse_proxy"])
        problem = await hass.state(entities["problem"])
        keys = sorted(issue["translation_key"] for issue in await hass.issues())
        placeholders = next(
            issue["translation_placeholders"]
            for issue in await hass.issues()
            if issue["translation_key"] == "upstream_unreachable"
        )

        await proxy.restart(hass.port)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        after = sorted(issue["translation_key"] for issue in await hass.issues())
    assert state == "upstream_unreachable"
    assert problem == "on"
    # the open WebSocket repair was not cleared by checks that could not reach Home Assistant
    assert keys == ["upstream_unreachable", "websocket_not_proxied"]
    assert placeholders["status"] == "502"
    assert placeholders["port"] == str(hass.port)
    assert placeholders["scheme"] == "http"
    assert after == ["websocket_not_proxied"]


async def refuse_through(proxy: ReverseProxy, times: int) -> None:
    """Requests of a browser behind `proxy`; Home Assistant refuses each with 400."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as client:
        for _ in range(times):
            async with client.get(
                f"https://127.0.0.1:{proxy.port}/manifest.json",
                headers={"Host": f"hass.example.test:{proxy.port}"},
            ) as response:
                assert response.status == 400


async def test_refused_traffic_never_advises_trusting_an_unproven_address(
    tmp_path: Path,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    kind = available_kinds(ProxyKind.NGINX, ProxyKind.HAPROXY)[0]
    other = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    async with run_hass(tmp_path / "config", http={"use_x_forwarded_for": False}) as hass:
        # Any watched endpoint loads the integration; this one is not Home Assistant at all.
        await hass.watch(other.port, pki.root_file)
        proxies = [
            await reverse_proxy(
                kind,
                chain_file=chain,
                key_file=key,
                upstream_port=hass.port,
                source_address=f"127.0.0.{index}",
            )
            for index in (5, 6, 7, 8)
        ]
        async with issue_updates(hass) as updates:
            await refuse_through(proxies[0], 1)  # once is no pattern
            once = await hass.issues()
            for proxy in proxies[1:]:
                await refuse_through(proxy, 2)
            await refuse_through(proxies[2], 1)  # the first address refused three times
            for proxy in proxies:
                await refuse_through(proxy, 10)
            written = await updates()
        issues = {issue["issue_id"]: issue for issue in await hass.issues()}
    assert once == []
    assert set(issues) == {"reverse_proxy_support_disabled_traffic"}
    issue = issues["reverse_proxy_support_disabled_traffic"]
    assert issue["translation_key"] == "traffic_refused_support_disabled"
    assert issue["severity"] == "warning"
    # counted, never named: none of these addresses was proven by a check's own request
    assert issue["translation_placeholders"] == {"count": "8", "sources": "4", "public": "0"}
    assert written == ["reverse_proxy_support_disabled_traffic"]  # one write, no storm


async def test_refused_traffic_reported_with_no_endpoint_at_all(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["10.9.9.9/32"]}
    async with run_hass(tmp_path / "config", http=http, yaml="tls_health:\n") as hass:
        proxy = await reverse_proxy(
            available_kinds()[0], chain_file=chain, key_file=key, upstream_port=hass.port
        )
        await refuse_through(proxy, 3)
        assert await hass.rest("GET", "/api/config/config_entries/entry?domain=tls_health") == []
        issues = {issue["issue_id"]: issue for issue in await hass.issues()}
    assert set(issues) == {"reverse_proxy_not_trusted_traffic"}
    placeholders = issues["reverse_proxy_not_trusted_traffic"]["translation_placeholders"]
    assert placeholders == {"count": "3", "sources": "1", "public": "0"}


@contextlib.asynccontextmanager
async def issue_updates(hass: HassProcess) -> AsyncIterator[Callable[[], Awaitable[list[str]]]]:
    """Subscribe to repairs_issue_registry_updated; yields a coroutine function returning the
    TLS Health issue ids written so far (a ping round trip flushes what was sent before)."""
    async with hass.session.ws_connect(f"{hass.url}/api/websocket") as socket_:
        assert (await socket_.receive_json())["type"] == "auth_required"
        await socket_.send_json({"type": "auth", "access_token": hass.token})
        assert (await socket_.receive_json())["type"] == "auth_ok"
        await socket_.send_json(
            {"id": 1, "type": "subscribe_events", "event_type": "repairs_issue_registry_updated"}
        )
        assert (await socket_.receive_json())["success"]
        ping = itertools.count(2)

        async def written() -> list[str]:
            await socket_.send_json({"id": (sent := next(ping)), "type": "ping"})
            found: list[str] = []
            while True:
                message = await socket_.receive_json(timeout=10)
                if message.get("id") == sent and message["type"] == "pong":
                    return found
                data = message.get("event", {}).get("data", {})
                if data.get("domain") == "tls_health" and data.get("action") != "remove":
                    found.append(data["issue_id"])

        yield written
