"""What a real Home Assistant receives, judged through real paths: directly, and via proxies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import ssl

import pytest

from tests.certs import Pki
from tests.conftest import StartServer

from .hass_process import HassProcess, run_hass
from .proxies import ProxyFactory, ProxyKind, ProxyMode, proxy_binary

pytestmark = pytest.mark.timeout(240)


async def test_home_assistant_serving_tls_itself_is_direct(tmp_path: Path, pki: Pki) -> None:
    chain, key = pki.server_files("hass", pki.leaf(), pki.intermediate)
    http = {"ssl_certificate": str(chain), "ssl_key": str(key)}
    async with run_hass(tmp_path / "config", http=http) as hass:
        entry_id = await hass.watch(hass.port, pki.root_file)
        entities = await hass.entities(entry_id)
        assert await hass.state(entities["handshake"]) == "ok"
        assert await hass.state(entities["reverse_proxy"]) == "direct"
        assert await hass.issues() == []


def available_kinds() -> list[ProxyKind]:
    kinds = [kind for kind in ProxyKind if proxy_binary(kind)]
    if not kinds:
        pytest.skip("neither nginx nor haproxy is installed (scripts/setup installs them)")
    return kinds


async def watch_through_proxies(
    hass: HassProcess,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    modes: list[ProxyMode],
) -> dict[tuple[ProxyKind, ProxyMode], str]:
    """Put each kind of proxy in each mode in front of hass, add an endpoint for each, check twice."""
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    entries: dict[tuple[ProxyKind, ProxyMode], str] = {}
    for kind in available_kinds():
        for mode in modes:
            proxy = await reverse_proxy(
                kind, mode, chain_file=chain, key_file=key, upstream_port=hass.port
            )
            entry_id = await hass.watch(proxy.port, pki.root_file)
            entries[kind, mode] = entry_id
    # the setup ran the first check; a finding is raised when the second agrees
    await hass.rest("POST", "/api/services/tls_health/check_now", {})
    return entries


async def proxy_states(
    hass: HassProcess, entries: dict[tuple[ProxyKind, ProxyMode], str]
) -> dict[tuple[ProxyKind, ProxyMode], tuple[str, list[str]]]:
    """reverse_proxy sensor state and open repair keys of each entry."""
    issues = await hass.issues()
    found = {}
    for where, entry_id in entries.items():
        entities = await hass.entities(entry_id)
        keys = sorted(
            issue["translation_key"] for issue in issues if issue["issue_id"].endswith(entry_id)
        )
        found[where] = (await hass.state(entities["reverse_proxy"]), keys)
    return found


async def test_proxy_header_problems(tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["127.0.0.5/32"]}
    expected = {
        ProxyMode.GOOD: ("ok", []),
        ProxyMode.NO_FORWARDED_FOR: ("forwarded_for_missing", ["forwarded_for_missing"]),
        ProxyMode.NO_FORWARDED_PROTO: ("forwarded_proto_missing", ["forwarded_proto_missing"]),
        ProxyMode.HOST_REWRITTEN: ("host_not_forwarded", ["host_not_forwarded"]),
        ProxyMode.NO_WEBSOCKET: ("websocket_blocked", ["websocket_not_proxied"]),
    }
    async with run_hass(tmp_path / "config", http=http) as hass:
        entries = await watch_through_proxies(hass, pki, reverse_proxy, list(expected))
        states = await proxy_states(hass, entries)
    assert states == {(kind, mode): expected[mode] for kind, mode in entries}


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
    assert states == dict.fromkeys(states, (state, keys))
    if state == "proxy_not_trusted":
        placeholders = next(
            issue["translation_placeholders"]
            for issue in issues
            if issue["translation_key"] == "reverse_proxy_not_trusted"
        )
        assert placeholders["trusted_entry"] == "127.0.0.5/32"


async def test_refused_real_traffic_is_reported(
    tmp_path: Path,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    kind = available_kinds()[0]
    other = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    async with run_hass(tmp_path / "config", http={"use_x_forwarded_for": False}) as hass:
        # Any watched endpoint loads the integration; this one is not Home Assistant at all.
        await hass.watch(other.port, pki.root_file)
        proxy = await reverse_proxy(kind, chain_file=chain, key_file=key, upstream_port=hass.port)
        async with hass.session.get(
            f"https://127.0.0.1:{proxy.port}/manifest.json",
            headers={"Host": f"hass.example.test:{proxy.port}"},
        ) as response:
            assert response.status == 400  # what a browser behind this proxy gets
        issues = {issue["issue_id"]: issue for issue in await hass.issues()}
    assert set(issues) == {"reverse_proxy_support_disabled_traffic"}
    assert issues["reverse_proxy_support_disabled_traffic"]["translation_placeholders"] == {
        "proxy_address": "127.0.0.5",
        "trusted_entry": "127.0.0.5/32",
    }


async def test_refused_traffic_reported_with_no_endpoint_at_all(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {"use_x_forwarded_for": True, "trusted_proxies": ["10.9.9.9/32"]}
    async with run_hass(tmp_path / "config", http=http, yaml="tls_health:\n") as hass:
        proxy = await reverse_proxy(
            available_kinds()[0], chain_file=chain, key_file=key, upstream_port=hass.port
        )
        async with hass.session.get(
            f"https://127.0.0.1:{proxy.port}/manifest.json",
            headers={"Host": f"hass.example.test:{proxy.port}"},
        ) as response:
            assert response.status == 400
        assert await hass.rest("GET", "/api/config/config_entries/entry?domain=tls_health") == []
        issues = {issue["issue_id"]: issue for issue in await hass.issues()}
    assert set(issues) == {"reverse_proxy_not_trusted_traffic"}
    placeholders = issues["reverse_proxy_not_trusted_traffic"]["translation_placeholders"]
    assert placeholders["trusted_entry"] == "127.0.0.5/32"
