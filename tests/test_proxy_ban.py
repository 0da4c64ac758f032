"""A 403 through the proxy is Home Assistant's ban of the path only when its ban list proves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address
import json
import ssl

from homeassistant.components.http.ban import KEY_BAN_MANAGER, IpBan
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest

from custom_components.tls_health.findings import current_findings, judged_keys
from custom_components.tls_health.options import EndpointOptions
from custom_components.tls_health.probe import parse_target
from custom_components.tls_health.proxy import ProxyCheck, ProxyVerdict
from custom_components.tls_health.proxy_judgement import (
    BANNED_CLIENT,
    BANNED_IN_FRONT,
    BANNED_SENDER,
    BanList,
    ForwardedRefusal,
    Observation,
    ProvenPath,
    RefusalReason,
    SettledOn,
    SubChecks,
    judge_forbidden,
    judge_no_view,
    settled_on,
)
from custom_components.tls_health.selfprobe import async_get_self_probe

from .certs import Pki
from .conftest import StartServer
from .servers import HttpHandler
from .test_findings import report

PROXY = "192.168.1.5"
OUTER_HOP = "172.30.33.7"
STRANGER = "192.168.1.99"
SEEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
BANNED_AT = datetime(2026, 11, 23, 9, 41, tzinfo=dt_util.get_time_zone("Asia/Shanghai"))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHECKER = "192.168.1.10"  # where this Home Assistant's own requests come from
# the proxy sends no X-Forwarded-For
PROXY_PATH = ProvenPath(PROXY, PROXY, SEEN, settled_on=SettledOn.PROXY)
# HA's trust stops at a hop in front of the proxy
HOP_PATH = ProvenPath(PROXY, OUTER_HOP, SEEN, settled_on=SettledOn.HOP)
# HA sees through the path to where the check's requests entered it
CLIENT_PATH = ProvenPath(PROXY, CHECKER, SEEN, settled_on=SettledOn.CHECK, egress=CHECKER)
REFUSED_PATH = ProvenPath(PROXY, None, SEEN)  # HA refused the request: it settled on nothing


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """The integration is loaded as a custom one."""


def test_the_proven_address_in_the_ban_list_is_the_ban_of_the_proxy() -> None:
    banned = judge_no_view(403, None, bans=BanList(3, PROXY_PATH, BANNED_AT))
    assert banned.verdict is ProxyVerdict.BANNED
    assert banned.judged_verdicts == {ProxyVerdict.BANNED}
    assert banned.proxy_address == PROXY
    (finding,) = banned.findings
    assert finding.cause == ""
    assert finding.placeholders == {
        "banned_address": PROXY,
        "banned_at": "2026-11-23 09:41 CST",
    }


@pytest.mark.parametrize(
    ("path", "egress", "cause"),
    [
        (HOP_PATH, CHECKER, BANNED_IN_FRONT),
        # this host's own address towards the endpoint: only this host is locked out
        (CLIENT_PATH, CHECKER, BANNED_CLIENT),
        (CLIENT_PATH, f"::ffff:{CHECKER}", BANNED_CLIENT),
        # this host's address when the proof was made; this check left over IPv6 or unknown
        (CLIENT_PATH, "fd00::10", BANNED_CLIENT),
        (CLIENT_PATH, None, BANNED_CLIENT),
        # this host's address now, though the proof's is not known
        (replace(CLIENT_PATH, egress=None), CHECKER, BANNED_CLIENT),
        # another address: a router on the way, or a forwarder in front that adds nothing
        (replace(CLIENT_PATH, remote="192.168.1.1"), CHECKER, BANNED_SENDER),
        (replace(CLIENT_PATH, remote="192.168.1.1"), None, BANNED_SENDER),
    ],
)
def test_a_banned_address_that_is_not_the_proxy_gets_its_own_text(
    path: ProvenPath, egress: str | None, cause: str
) -> None:
    banned = judge_no_view(403, None, bans=BanList(1, path, BANNED_AT, egress))
    (finding,) = banned.findings
    assert finding.cause == cause
    assert finding.placeholders["banned_address"] == path.remote
    assert banned.proxy_address == PROXY


@pytest.mark.parametrize("egress", ["192.168.1.11", None])
def test_a_ban_not_known_to_be_this_hosts_address_or_not_is_not_guessed_at(
    egress: str | None,
) -> None:
    # the proof did not record this host's address, and this check's is another one
    path = replace(CLIENT_PATH, egress=None)
    banned = judge_no_view(403, None, bans=BanList(1, path, BANNED_AT, egress))
    assert not banned.findings
    assert ProxyVerdict.BANNED not in banned.judged_verdicts


def test_the_banned_address_is_shown_as_home_assistant_writes_it() -> None:
    path = ProvenPath("fd00::5", "fd00:0:0::5", SEEN, settled_on=SettledOn.PROXY)
    (finding,) = judge_forbidden(BanList(1, path, BANNED_AT)).findings
    assert finding.placeholders["banned_address"] == "fd00::5"


def observed(remote: str, forwarded_for: str | None, peer: str = PROXY) -> Observation:
    return Observation(peer, remote, "http", "hass.example.test", forwarded_for, "https", None)


@pytest.mark.parametrize(
    ("observation", "settled"),
    [
        # no X-Forwarded-For: Home Assistant takes the proxy for every client
        (observed(PROXY, None), SettledOn.PROXY),
        # the proxy appended the check's address and Home Assistant trusts the proxy
        (observed(CHECKER, CHECKER), SettledOn.CHECK),
        # proxy and Home Assistant on one host: the check's address is the proxy's, yet HA sees
        # through the proxy (every other client gets its own address)
        (observed("127.0.0.1", "127.0.0.1", peer="127.0.0.1"), SettledOn.CHECK),
        # a hop in front appended the check, the proxy appended the hop: HA stopped at the hop
        (observed(OUTER_HOP, f"{CHECKER}, {OUTER_HOP}"), SettledOn.HOP),
        (observed(f"{CHECKER}", f"{CHECKER}, {OUTER_HOP}"), SettledOn.CHECK),
        # a client address that is nowhere on the path, or a chain that cannot be read
        (observed("10.1.2.3", CHECKER), None),
        (observed(CHECKER, "not-an-address"), None),
        (observed(STRANGER, None), None),
        (replace(observed(PROXY, None), remote=None), None),  # a request over a Unix socket
    ],
)
def test_where_home_assistant_settled_on_the_checks_own_path(
    observation: Observation, settled: SettledOn | None
) -> None:
    assert settled_on(observation) is settled


def test_where_it_settled_is_kept_with_the_path() -> None:
    for path in (PROXY_PATH, HOP_PATH, CLIENT_PATH, REFUSED_PATH):
        assert ProvenPath.from_stored(json.loads(json.dumps(path.stored()))) == path
    # kept by an earlier build, or written by hand: not known
    stored = {**PROXY_PATH.stored(), "settled_on": "somewhere"}
    assert ProvenPath.from_stored(stored) == ProvenPath(PROXY, PROXY, SEEN)
    del stored["settled_on"]
    assert ProvenPath.from_stored(stored) == ProvenPath(PROXY, PROXY, SEEN)


@pytest.mark.parametrize(
    ("bans", "judged", "note"),
    [
        # a 403 that is not the proven address's ban: the path is proven not banned
        (
            BanList(2, PROXY_PATH),
            {ProxyVerdict.BANNED},
            "holds 2 addresses, none proven to be this path's (the address",
        ),
        (BanList(0, PROXY_PATH), {ProxyVerdict.BANNED}, "holds 0 addresses, none proven"),
        # no earlier proof of the address HA takes for the check: nothing judged
        (BanList(1), set(), "holds 1 address, none proven to be this path's (no earlier"),
        (BanList(1, REFUSED_PATH), set(), "holds 1 address, none proven"),
        # banned, but where on the path the address lies is not known: nothing said or cleared
        (
            BanList(1, ProvenPath(PROXY, PROXY, SEEN), BANNED_AT),
            set(),
            "among them the address an earlier check's own request proved (where on the path",
        ),
        (None, set(), "ban list could not be read"),
    ],
)
def test_a_403_without_proof_names_nobody(
    bans: BanList | None, judged: set[ProxyVerdict], note: str
) -> None:
    forbidden = judge_no_view(403, None, bans=bans)
    assert forbidden.verdict is ProxyVerdict.INCONCLUSIVE
    assert forbidden.findings == ()
    assert forbidden.proxy_address is None
    assert forbidden.judged_verdicts == judged
    assert note in forbidden.notes[0]
    # diagnostics show the notes: no address there either
    for address in (PROXY, STRANGER):
        assert address not in forbidden.detail
        assert address not in forbidden.notes[0]
    assert current_findings(report(), EndpointOptions(), NOW, forbidden) == []


def test_only_a_403_is_read_as_a_ban() -> None:
    bans = BanList(1, PROXY_PATH, BANNED_AT)
    refusal = ForwardedRefusal(0.0, RefusalReason.PROXY_NOT_TRUSTED, PROXY)
    assert judge_no_view(403, refusal, bans=bans).verdict is ProxyVerdict.PROXY_NOT_TRUSTED
    for status in (None, 400, 401, 404, 502):
        assert judge_no_view(status, None, bans=bans).verdict is not ProxyVerdict.BANNED


def test_a_check_that_gets_through_clears_the_ban() -> None:
    plain = Observation(PROXY, PROXY, "http", "hass.example.test", None, "https", None)
    through = SubChecks(plain).report()
    assert ProxyVerdict.BANNED in through.judged_verdicts
    assert "proxy_banned" in judged_keys(report(), EndpointOptions(), through)
    refused = judge_no_view(400, ForwardedRefusal(0.0, RefusalReason.PROXY_NOT_TRUSTED, PROXY))
    # HA's forwarded middleware refuses before its ban middleware looks: no word on the ban
    assert "proxy_banned" not in judged_keys(report(), EndpointOptions(), refused)


@pytest.mark.parametrize(
    ("path", "address", "text"),
    [
        (PROXY_PATH, PROXY, "proxy_banned"),
        (
            ProvenPath("8.8.4.4", "8.8.4.4", SEEN, settled_on=SettledOn.PROXY),
            "8.8.4.4",
            "proxy_banned_public",
        ),
        (HOP_PATH, OUTER_HOP, "proxy_banned_in_front"),
        (CLIENT_PATH, CHECKER, "proxy_banned_client"),
        (replace(CLIENT_PATH, remote="192.168.1.1"), "192.168.1.1", "proxy_banned_sender"),
        # no other text advises trusting the address it names, public or not
        (
            ProvenPath(PROXY, "8.8.4.4", SEEN, settled_on=SettledOn.HOP),
            "8.8.4.4",
            "proxy_banned_in_front",
        ),
        (
            ProvenPath(PROXY, "8.8.4.4", SEEN, settled_on=SettledOn.CHECK, egress=CHECKER),
            "8.8.4.4",
            "proxy_banned_sender",
        ),
    ],
)
def test_the_repair_names_the_proven_address_and_the_date(
    path: ProvenPath, address: str, text: str
) -> None:
    banned = judge_no_view(403, None, bans=BanList(4, path, BANNED_AT, CHECKER))
    (found,) = current_findings(report(), EndpointOptions(), NOW, banned)
    assert found.key == "proxy_banned"
    assert found.translation_key == text
    assert found.placeholders["banned_address"] == address
    assert found.placeholders["banned_at"] == "2026-11-23 09:41 CST"
    assert found.placeholders["proxy_address"] == path.proxy_address


async def banned_check(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
    proven: ProvenPath | None,
) -> ProxyCheck:
    """A check through a URL that answers 403 to everything, like a banned path."""
    server = await serve(HttpHandler(403), context=tls_context(pki.leaf(), pki.intermediate))
    target = parse_target(f"https://hass.example.test:{server.port}", address="127.0.0.1")
    return ProxyCheck(hass, async_get_self_probe(hass), target, proven=proven)


async def test_the_check_reads_home_assistants_ban_list(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    await hass.config.async_set_time_zone("Asia/Shanghai")
    assert await async_setup_component(hass, "http", {"http": {"ip_ban_enabled": True}})
    # Home Assistant's own ban records, kept in memory only (no ban file is written here)
    lookup = hass.http.app[KEY_BAN_MANAGER].ip_bans_lookup
    stranger = IpBan(STRANGER, datetime(2026, 11, 22, 1, 2, tzinfo=UTC))
    lookup[stranger.ip_address] = stranger

    unproven = await (await banned_check(hass, pki, serve, tls_context, None)).run()
    assert unproven.verdict is ProxyVerdict.INCONCLUSIVE
    assert "holds 1 address, none proven" in unproven.notes[0]

    unreadable = replace(PROXY_PATH, remote="not-an-address")  # HA bans addresses only
    not_listed = await (await banned_check(hass, pki, serve, tls_context, unreadable)).run()
    assert not_listed.judged_verdicts == {ProxyVerdict.BANNED}

    check = await banned_check(hass, pki, serve, tls_context, PROXY_PATH)
    not_banned = await check.run()
    assert not_banned.verdict is ProxyVerdict.INCONCLUSIVE
    assert not_banned.judged_verdicts == {ProxyVerdict.BANNED}

    proxy = IpBan(PROXY, datetime(2026, 11, 23, 1, 41, 30, tzinfo=UTC))
    lookup[proxy.ip_address] = proxy
    banned = await check.run()
    assert banned.verdict is ProxyVerdict.BANNED
    assert banned.findings[0].placeholders == {
        "banned_address": PROXY,
        "banned_at": "2026-11-23 09:41 CST",
    }


async def test_without_ip_bans_a_403_is_no_ban(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
) -> None:
    assert await async_setup_component(hass, "http", {"http": {"ip_ban_enabled": False}})
    assert KEY_BAN_MANAGER not in hass.http.app
    forbidden = await (await banned_check(hass, pki, serve, tls_context, PROXY_PATH)).run()
    assert forbidden.verdict is ProxyVerdict.INCONCLUSIVE
    assert forbidden.judged_verdicts == {ProxyVerdict.BANNED}


@pytest.mark.parametrize(
    "lookup",
    [
        None,  # a Home Assistant that keeps its bans elsewhere
        {ip_address(PROXY): object()},  # a ban record without a moment
    ],
)
async def test_a_ban_list_that_cannot_be_read_judges_nothing(
    hass: HomeAssistant,
    pki: Pki,
    serve: StartServer,
    tls_context: Callable[..., ssl.SSLContext],
    lookup: object,
) -> None:
    assert await async_setup_component(hass, "http", {"http": {"ip_ban_enabled": True}})
    hass.http.app[KEY_BAN_MANAGER].ip_bans_lookup = lookup  # type: ignore[assignment]
    forbidden = await (await banned_check(hass, pki, serve, tls_context, PROXY_PATH)).run()
    assert forbidden.verdict is ProxyVerdict.INCONCLUSIVE
    assert forbidden.judged_verdicts == set()
    assert "could not be read" in forbidden.notes[0]
