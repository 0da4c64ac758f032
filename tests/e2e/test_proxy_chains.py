"""Chains of real proxies in front of a real Home Assistant, and a proxy whose address moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.certs import Pki

from .hass_process import HassProcess, run_hass
from .proxies import ProxyFactory, ProxyKind, ProxyMode, ReverseProxy, proxy_binary

pytestmark = pytest.mark.timeout(300)

CHECKER = "127.0.0.1"
INNER = "127.0.0.5"
OUTER = "127.0.0.6"
MOVED = "127.0.0.7"


def installed(*kinds: ProxyKind) -> list[ProxyKind]:
    found = [kind for kind in kinds if proxy_binary(kind)]
    if not found:
        pytest.skip("no reverse proxy is installed (scripts/setup installs them)")
    return found


async def chain_of_two(
    hass: HassProcess,
    pki: Pki,
    reverse_proxy: ProxyFactory,
    outer_kind: ProxyKind,
    outer_mode: ProxyMode = ProxyMode.GOOD,
) -> tuple[ReverseProxy, ReverseProxy]:
    """A second proxy (from OUTER) in front of nginx (from INNER) in front of hass."""
    installed(ProxyKind.NGINX, outer_kind)
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    inner = await reverse_proxy(
        ProxyKind.NGINX,
        ProxyMode.GOOD,
        chain_file=chain,
        key_file=key,
        upstream_port=hass.port,
        source_address=INNER,
    )
    outer = await reverse_proxy(
        outer_kind,
        outer_mode,
        chain_file=chain,
        key_file=key,
        upstream_port=inner.port,
        source_address=OUTER,
        upstream_tls=True,
    )
    return inner, outer


async def checked(hass: HassProcess, entry_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """Check again; the proxy sensor's state and the open repairs by translation key."""
    await hass.rest("POST", "/api/services/tls_health/check_now", {})
    entities = await hass.entities(entry_id)
    issues = {issue["translation_key"]: issue for issue in await hass.issues()}
    return await hass.state(entities["reverse_proxy"]), issues


@pytest.mark.parametrize("outer_kind", [ProxyKind.NGINX, ProxyKind.HAPROXY])
async def test_trust_stopping_at_the_outer_hop_names_it(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory, outer_kind: ProxyKind
) -> None:
    # only the inner proxy is trusted, like nginx behind a tunnel whose address nobody added
    http = {"use_x_forwarded_for": True, "trusted_proxies": [f"{INNER}/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        _, outer = await chain_of_two(hass, pki, reverse_proxy, outer_kind)
        entry_id = await hass.watch(outer.port, pki.root_file, leads_here=True)
        state, issues = await checked(hass, entry_id)
    assert state == "outer_hop_not_trusted"
    assert set(issues) == {"outer_hop_not_trusted"}
    placeholders = issues["outer_hop_not_trusted"]["translation_placeholders"]
    assert placeholders["hop"] == OUTER
    assert placeholders["previous_hop"] == CHECKER
    assert placeholders["proxy_address"] == INNER
    assert placeholders["hop_entry"] == f"{OUTER}/32"


@pytest.mark.parametrize("outer_kind", [ProxyKind.NGINX, ProxyKind.HAPROXY])
async def test_a_chain_trusted_all_the_way_is_quiet(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory, outer_kind: ProxyKind
) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": [f"{INNER}/32", f"{OUTER}/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        _, outer = await chain_of_two(hass, pki, reverse_proxy, outer_kind)
        entry_id = await hass.watch(outer.port, pki.root_file, leads_here=True)
        state, issues = await checked(hass, entry_id)
    assert state == "ok"
    assert issues == {}


async def test_an_outer_hop_passing_a_clients_value_through_is_spoofable(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    http = {"use_x_forwarded_for": True, "trusted_proxies": [f"{INNER}/32", f"{OUTER}/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        _, outer = await chain_of_two(
            hass, pki, reverse_proxy, ProxyKind.NGINX, ProxyMode.PASS_THROUGH
        )
        entry_id = await hass.watch(outer.port, pki.root_file, leads_here=True)
        state, issues = await checked(hass, entry_id)
    assert state == "client_ip_spoofable"
    assert set(issues) == {"client_ip_spoofable_outer"}
    placeholders = issues["client_ip_spoofable_outer"]["translation_placeholders"]
    assert placeholders["hop"] == OUTER
    assert placeholders["chain"] == f"203.0.113.77, {OUTER}"


async def test_a_sender_in_front_that_adds_nothing_is_not_guessed_at(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    # The outer hop adds no X-Forwarded-For: HA takes its address for every client, but from
    # the check's side it looks like a router on the checker's own way (hairpin NAT), which
    # other clients do not pass. No repair on a guess; the diagnostics say it cannot be told.
    http = {"use_x_forwarded_for": True, "trusted_proxies": [f"{INNER}/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        _, outer = await chain_of_two(
            hass, pki, reverse_proxy, ProxyKind.NGINX, ProxyMode.PASS_THROUGH
        )
        entry_id = await hass.watch(outer.port, pki.root_file, leads_here=True)
        state, issues = await checked(hass, entry_id)
        diagnostics = await hass.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
    assert state == "ok"
    assert issues == {}
    proxy = diagnostics["data"]["reverse_proxy"]
    assert any("a sender in front of the proxy" in note for note in proxy["notes"])


async def test_a_proxy_whose_address_moved_is_told_so(
    tmp_path: Path, pki: Pki, reverse_proxy: ProxyFactory
) -> None:
    installed(ProxyKind.NGINX)
    chain, key = pki.server_files("proxy", pki.leaf(), pki.intermediate)
    http = {"use_x_forwarded_for": True, "trusted_proxies": [f"{INNER}/32"]}
    async with run_hass(tmp_path / "config", http=http) as hass:
        proxy = await reverse_proxy(
            ProxyKind.NGINX,
            chain_file=chain,
            key_file=key,
            upstream_port=hass.port,
            source_address=INNER,
        )
        entry_id = await hass.watch(proxy.port, pki.root_file, leads_here=True)
        before, _ = await checked(hass, entry_id)
        # the container restarts with another address
        proxy.source_address = MOVED
        await proxy.restart(hass.port)
        await hass.rest("POST", "/api/services/tls_health/check_now", {})
        state, issues = await checked(hass, entry_id)
    assert before == "ok"
    assert state == "proxy_not_trusted"
    assert set(issues) == {"reverse_proxy_not_trusted_moved"}
    placeholders = issues["reverse_proxy_not_trusted_moved"]["translation_placeholders"]
    assert placeholders["proxy_address"] == MOVED
    assert placeholders["previous_address"] == INNER
    assert placeholders["trusted_entry"] == f"{MOVED}/32"
