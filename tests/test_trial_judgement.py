"""HTTP settings on trial, saved or reverted: what they make of the path the check proved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address, ip_network
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from homeassistant.components.http.forwarded import async_setup_forwarded
from hypothesis import given, strategies as st
from multidict import CIMultiDict
import pytest

from custom_components.tls_health import catalogue as c
from custom_components.tls_health.findings import (
    current_findings,
    settings_findings,
    settings_keys,
)
from custom_components.tls_health.options import EndpointOptions
from custom_components.tls_health.proxy_judgement import (
    HOP_PASSES_THROUGH,
    BanList,
    ForwardedRefusal,
    ProxyFinding,
    ProxyReport,
    ProxyVerdict,
    RefusalReason,
    SubChecks,
    judge_no_view,
    settled_index,
)
from custom_components.tls_health.trial_judgement import (
    HttpSettings,
    Outcome,
    ProxySettings,
    TrialWarning,
    judge_settings,
)

from .test_findings import NOW, report
from .test_proxy_ban import BANNED_AT, PROXY_PATH
from .test_proxy_judgement import Transport, observation

STRINGS = Path(__file__).parent.parent / "custom_components" / "tls_health" / "strings.json"
ZONE = ZoneInfo("Asia/Shanghai")
SAVED_AT = datetime(2026, 12, 1, 23, 58, 30, tzinfo=UTC)
REVERT_AT = datetime(2026, 12, 2, 0, 4, 12, tzinfo=UTC)
PROXY = "192.168.1.9"
HOP = "172.30.33.4"  # a tunnel's container in front of the proxy
CHECKER = "192.168.1.20"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Pure functions: no `hass` here."""


def slot(*trusted: str, use: bool = True, **meta: object) -> dict[str, Any]:
    """One slot of HA's http store, as HA writes it."""
    values: dict[str, Any] = {"server_port": 8123, "use_x_forwarded_for": use, **meta}
    if trusted:
        values["trusted_proxies"] = list(trusted)
    return values


OFF = slot(use=False)
TRUSTS_PROXY = slot(f"{PROXY}/32")
TRUSTS_BOTH = slot(f"{PROXY}/32", f"{HOP}/32")
TRUSTS_OTHER = slot("10.9.9.9/32")


def settings(
    stable: dict[str, Any],
    pending: dict[str, Any] | None = None,
    *,
    running: str = "pending",
    error: str | None = None,
    revert_at: datetime | None = REVERT_AT,
) -> HttpSettings:
    if pending is not None:
        pending = {**pending, "created_at": SAVED_AT.isoformat(), "error": error}
    read = HttpSettings.read(running=running, stable=stable, pending=pending, revert_at=revert_at)
    assert read is not None
    return read


def trial(stable: dict[str, Any], pending: dict[str, Any]) -> HttpSettings:
    return settings(stable, pending)


def saved(stable: dict[str, Any], pending: dict[str, Any]) -> HttpSettings:
    return settings(stable, pending, running="stable", revert_at=None)


def reverted(stable: dict[str, Any], pending: dict[str, Any]) -> HttpSettings:
    return settings(stable, pending, running="stable", error="not_promoted", revert_at=None)


def through(
    chain: str = CHECKER, trusted: tuple[str, ...] = (f"{PROXY}/32",), peer: str = PROXY
) -> ProxyReport:
    """A check whose every request got through the proxy at `peer`, with X-Forwarded-For.

    Home Assistant settled where its rule leads with `trusted`, the settings it runs.
    """
    networks = [ip_network(entry) for entry in trusted]
    hops = [ip_address(hop) for hop in chain.split(", ")]
    remote = str(hops[settled_index(hops, networks)])
    checks = SubChecks(observation(peer=peer, remote=remote, forwarded_for=chain))
    checks.hops(networks)
    checks.websocket(works=True)
    return checks.report()


def refused(reason: RefusalReason, peer: str = PROXY) -> ProxyReport:
    return judge_no_view(400, ForwardedRefusal(0.0, reason, peer))


# --- reading Home Assistant's store -----------------------------------------------------------


def test_the_store_is_read_as_home_assistant_writes_it() -> None:
    read = HttpSettings.read(
        running="pending",
        stable=OFF,
        pending={**TRUSTS_PROXY, "created_at": SAVED_AT.isoformat(), "error": None},
        revert_at=REVERT_AT,
    )
    assert read == HttpSettings(
        running="pending",
        stable=ProxySettings(use_x_forwarded_for=False, trusted_proxies=()),
        pending=ProxySettings(True, (ip_network(f"{PROXY}/32"),)),
        saved_at=SAVED_AT,
        revert_at=REVERT_AT,
    )
    assert read.on_trial
    assert read.saved is None
    assert read.reverted is None


@pytest.mark.parametrize(
    "conf",
    [
        None,
        [],
        {"use_x_forwarded_for": "yes"},
        {"use_x_forwarded_for": True, "trusted_proxies": "10.0.0.1"},
        {"use_x_forwarded_for": True, "trusted_proxies": ["10.0.0.1/24"]},  # host bits
        {"use_x_forwarded_for": True, "trusted_proxies": ["proxy.lan"]},
        {"use_x_forwarded_for": True, "trusted_proxies": [167772161]},  # an int is no entry
    ],
)
def test_a_slot_not_as_home_assistant_writes_it_is_unreadable(conf: object) -> None:
    assert ProxySettings.read(conf) is None
    assert HttpSettings.read(running="stable", stable=conf, pending=None, revert_at=None) is None
    assert (
        HttpSettings.read(running="stable", stable=TRUSTS_PROXY, pending=conf or 0, revert_at=None)
        is None
    )


def test_a_deadline_without_time_zone_or_an_unknown_slot_is_unreadable() -> None:
    naive = REVERT_AT.replace(tzinfo=None)
    assert HttpSettings.read(running="pending", stable=OFF, pending=None, revert_at=naive) is None
    assert HttpSettings.read(running=None, stable=OFF, pending=None, revert_at=None) is None


def test_a_slot_without_the_settings_is_home_assistants_default() -> None:
    assert ProxySettings.read({"server_port": 8123}) == ProxySettings(False, ())


# --- Home Assistant's own rule ------------------------------------------------------------------

NETWORKS = st.sampled_from(
    ["192.168.1.9/32", "192.168.1.0/24", "172.30.33.0/24", "10.0.0.0/8", "::1/128", "fd00::/8"]
)
ADDRESSES = st.sampled_from(
    ["192.168.1.9", "192.168.1.20", "172.30.33.4", "10.1.2.3", "203.0.113.7", "::1", "fd00::5"]
)


@given(
    use=st.booleans(),
    trusted=st.lists(NETWORKS, max_size=4, unique=True),
    peer=ADDRESSES,
    # distinct: HA tells where it settled by the address only
    chain=st.lists(ADDRESSES, min_size=1, max_size=4, unique=True),
)
async def test_outcome_is_what_home_assistants_forwarded_middleware_does(
    use: bool, trusted: list[str], peer: str, chain: list[str]
) -> None:
    """The rule used for settings HA does not run is its forwarded middleware's, run here."""
    networks = [ip_network(entry) for entry in trusted]
    app = web.Application()
    async_setup_forwarded(app, use, networks)
    middleware = app.middlewares[-1]
    request = make_mocked_request(
        "GET",
        "/",
        CIMultiDict({"X-Forwarded-For": ", ".join(chain)}),
        transport=Transport((peer, 4711)),
    )
    remote: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        remote.append(request.remote)
        return web.Response()

    outcome = ProxySettings(use, tuple(networks)).outcome(
        ip_address(peer), [ip_address(hop) for hop in chain]
    )
    try:
        await middleware(request, handler)
    except web.HTTPBadRequest:
        assert outcome in (Outcome.SUPPORT_DISABLED, Outcome.PROXY_NOT_TRUSTED)
        assert (outcome is Outcome.SUPPORT_DISABLED) is not use
        return
    settled = remote[0]
    assert outcome is (Outcome.ACCEPTED if settled == chain[0] else Outcome.SETTLES_ON_HOP)
    if outcome is Outcome.SETTLES_ON_HOP:
        hop, previous = ProxySettings(use, tuple(networks)).hop([ip_address(a) for a in chain])
        assert hop == settled
        assert previous == chain[chain.index(settled) - 1]


# --- on trial -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stable", "warning"),
    [
        (OFF, TrialWarning(Outcome.SUPPORT_DISABLED, PROXY)),
        (TRUSTS_OTHER, TrialWarning(Outcome.PROXY_NOT_TRUSTED, PROXY)),
        (TRUSTS_PROXY, None),  # the trial changed something else: stable works as well
    ],
)
def test_a_proxy_that_works_only_on_trial_is_warned_about(
    stable: dict[str, Any], warning: TrialWarning | None
) -> None:
    judgement = judge_settings(through(), trial(stable, TRUSTS_PROXY))
    assert judgement.trial_judged
    assert judgement.trial == warning
    assert judgement.texts == {}


def test_a_hop_trusted_only_on_trial_is_warned_about() -> None:
    chain = f"{CHECKER}, {HOP}"
    both = (f"{PROXY}/32", f"{HOP}/32")
    judgement = judge_settings(through(chain, both), trial(TRUSTS_PROXY, TRUSTS_BOTH))
    assert judgement.trial == TrialWarning(Outcome.SETTLES_ON_HOP, HOP, CHECKER)
    # the trial does not make it work: HA settles on the hop now as well
    stuck = judge_settings(through(chain), trial(TRUSTS_PROXY, TRUSTS_PROXY))
    assert stuck.trial_judged
    assert stuck.trial is None


@pytest.mark.parametrize(
    "checked",
    [
        refused(RefusalReason.PROXY_NOT_TRUSTED),  # the trial does not make it work
        through().__class__(  # HA serves TLS itself
            ProxyVerdict.DIRECT, "", None, observation(forwarded_for=None, scheme="https")
        ),
        replace(through(), observation=observation(peer=PROXY, forwarded_for=None)),
    ],
    ids=["refused", "direct", "no_forwarded_for"],
)
def test_no_warning_where_the_trial_does_not_decide(checked: ProxyReport) -> None:
    judgement = judge_settings(checked, trial(OFF, TRUSTS_PROXY))
    assert judgement.trial_judged
    assert judgement.trial is None


@pytest.mark.parametrize(
    "checked",
    [
        None,
        judge_no_view(None, None),
        judge_no_view(502, None),
        # banned: the 403 shows no forwarded chain, whatever settings run
        judge_no_view(403, None, bans=BanList(1, PROXY_PATH, BANNED_AT)),
    ],
    ids=["no_check", "no_answer", "upstream", "banned"],
)
def test_a_check_that_did_not_reach_home_assistant_does_not_judge_a_trial(
    checked: ProxyReport | None,
) -> None:
    assert not judge_settings(checked, trial(OFF, TRUSTS_PROXY)).trial_judged
    # without a trial, the warning is cleared whatever the check saw
    assert judge_settings(checked, saved(OFF, TRUSTS_PROXY)).trial_judged
    assert judge_settings(checked, settings(OFF, running="stable", revert_at=None)).trial_judged


def test_a_trial_that_failed_or_ended_is_not_a_trial() -> None:
    failed = settings(OFF, TRUSTS_PROXY, running="stable", error="apply_failed", revert_at=None)
    assert not failed.on_trial
    assert failed.saved is None
    assert failed.reverted is None
    confirmed = settings(TRUSTS_PROXY, running="stable", revert_at=None)
    assert judge_settings(through(), confirmed).trial is None


# --- saved, and reverted ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checked", "stable", "pending", "texts"),
    [
        (refused(RefusalReason.SUPPORT_DISABLED), OFF, TRUSTS_PROXY, "_saved"),
        (refused(RefusalReason.PROXY_NOT_TRUSTED), TRUSTS_OTHER, TRUSTS_PROXY, "_saved"),
        # saved, but still not for this proxy: the repair's own advice holds
        (refused(RefusalReason.SUPPORT_DISABLED), OFF, TRUSTS_OTHER, None),
        (refused(RefusalReason.PROXY_NOT_TRUSTED), TRUSTS_OTHER, slot(f"{HOP}/32"), None),
        (refused(RefusalReason.SUPPORT_DISABLED), OFF, slot(f"{PROXY}/32", use=False), None),
    ],
)
def test_saved_settings_that_let_the_proxy_through(
    checked: ProxyReport,
    stable: dict[str, Any],
    pending: dict[str, Any],
    texts: str | None,
) -> None:
    expected = {checked.verdict: texts} if texts else {}
    assert judge_settings(checked, saved(stable, pending)).texts == expected


def test_saved_settings_that_trust_the_hop_too() -> None:
    chain = f"{CHECKER}, {HOP}"
    judgement = judge_settings(through(chain), saved(TRUSTS_PROXY, TRUSTS_BOTH))
    assert judgement.texts == {ProxyVerdict.OUTER_HOP_NOT_TRUSTED: "_saved"}
    # a hop passing clients' values through must be fixed at the hop first
    passing = through(chain)
    passing = replace(
        passing, findings=tuple(replace(f, cause=HOP_PASSES_THROUGH) for f in passing.findings)
    )
    assert judge_settings(passing, saved(TRUSTS_PROXY, TRUSTS_BOTH)).texts == {}


def test_forwarded_for_missing_gets_its_home_assistant_part_saved() -> None:
    missing = ProxyFinding(ProxyVerdict.FORWARDED_FOR_MISSING, "no X-Forwarded-For")
    checked = replace(
        through(),
        verdict=ProxyVerdict.FORWARDED_FOR_MISSING,
        observation=observation(peer=PROXY, forwarded_for=None, scheme="http"),
        findings=(missing,),
    )
    assert judge_settings(checked, saved(OFF, TRUSTS_PROXY)).texts == {
        ProxyVerdict.FORWARDED_FOR_MISSING: "_saved"
    }
    # Home Assistant's part is done already: nothing saved changes it
    assert judge_settings(checked, saved(TRUSTS_PROXY, TRUSTS_BOTH)).texts == {}
    # a reverted trial did not break a proxy that sends no X-Forwarded-For
    assert judge_settings(checked, reverted(OFF, TRUSTS_PROXY)).texts == {}


@pytest.mark.parametrize(
    ("checked", "stable"),
    [
        (refused(RefusalReason.SUPPORT_DISABLED), OFF),
        (refused(RefusalReason.PROXY_NOT_TRUSTED), TRUSTS_OTHER),
    ],
)
def test_a_reverted_trial_that_let_the_proxy_through_explains_the_break(
    checked: ProxyReport, stable: dict[str, Any]
) -> None:
    assert judge_settings(checked, reverted(stable, TRUSTS_PROXY)).texts == {
        checked.verdict: "_reverted"
    }
    # one that would not have let it through explains nothing
    assert judge_settings(checked, reverted(stable, TRUSTS_OTHER)).texts == {}


def test_a_reverted_trial_that_trusted_the_hop() -> None:
    judgement = judge_settings(through(f"{CHECKER}, {HOP}"), reverted(TRUSTS_PROXY, TRUSTS_BOTH))
    assert judgement.texts == {ProxyVerdict.OUTER_HOP_NOT_TRUSTED: "_reverted"}


def test_saved_settings_do_not_speak_while_a_trial_runs() -> None:
    """While pending settings run, the repairs are about them: no saved text."""
    checked = refused(RefusalReason.PROXY_NOT_TRUSTED)
    assert judge_settings(checked, trial(TRUSTS_OTHER, TRUSTS_OTHER)).texts == {}


# --- the repairs ----------------------------------------------------------------------------------


def findings(checked: ProxyReport, read: HttpSettings) -> dict[str, Any]:
    options = EndpointOptions()
    found = current_findings(report(), options, NOW, checked)
    now = NOW.astimezone(ZONE)
    return {
        finding.key: finding for finding in settings_findings(found, report(), checked, read, now)
    }


def test_the_trial_warning_shows_the_deadline_in_home_assistants_time_zone() -> None:
    found = findings(through(), trial(OFF, TRUSTS_PROXY))
    assert set(found) == {"proxy_settings_on_trial"}
    warning = found["proxy_settings_on_trial"]
    assert warning.translation_key == "proxy_settings_on_trial"
    assert warning.repair.confirmations == 1
    assert warning.severity == "warning"
    assert {
        key: warning.placeholders[key]
        for key in ("proxy_address", "trusted_entry", "revert_at", "saved_at", "endpoint")
    } == {
        "proxy_address": PROXY,
        "trusted_entry": f"{PROXY}/32",
        "revert_at": "2026-12-02 08:04:12 CST",
        "saved_at": "2026-12-02 07:58 CST",
        "endpoint": "hass.example.test:8443",
    }


@pytest.mark.parametrize(
    ("stable", "pending", "chain", "text", "values"),
    [
        (TRUSTS_OTHER, TRUSTS_PROXY, CHECKER, "proxy_settings_on_trial_not_trusted", {}),
        (
            TRUSTS_PROXY,
            TRUSTS_BOTH,
            f"{CHECKER}, {HOP}",
            "proxy_settings_on_trial_hop",
            {"hop": HOP, "previous_hop": CHECKER, "hop_entry": f"{HOP}/32"},
        ),
        (
            TRUSTS_PROXY,
            slot(f"{PROXY}/32", "93.184.215.0/24"),
            f"{CHECKER}, 93.184.215.7",
            "proxy_settings_on_trial_public",
            {"trusted_address": "93.184.215.7"},
        ),
    ],
)
def test_the_trial_warning_says_what_the_stable_settings_would_do(
    stable: dict[str, Any],
    pending: dict[str, Any],
    chain: str,
    text: str,
    values: dict[str, str],
) -> None:
    trusted = tuple(ProxySettings.read(pending).trusted_proxies)  # type: ignore[union-attr]
    checked = through(chain, tuple(str(network) for network in trusted))
    (warning,) = findings(checked, trial(stable, pending)).values()
    assert warning.translation_key == text
    assert {key: warning.placeholders[key] for key in values} == values


def test_texts_about_saved_settings_quote_the_entries_those_settings_hold() -> None:
    # the saved settings trust a whole range: the text says so, not the one address it advises
    wide = slot("192.168.1.0/24", "172.30.0.0/16")
    checked = refused(RefusalReason.PROXY_NOT_TRUSTED)
    for read, text in ((saved(OFF, wide), "_saved"), (reverted(OFF, wide), "_reverted")):
        found = findings(checked, read)["reverse_proxy_not_trusted"]
        assert found.translation_key == f"reverse_proxy_not_trusted{text}"
        assert found.placeholders["trusted_entry"] == "192.168.1.0/24"
    hop_chain = f"{CHECKER}, {HOP}"
    found = findings(through(hop_chain), saved(TRUSTS_PROXY, wide))["outer_hop_not_trusted"]
    assert found.translation_key == "outer_hop_not_trusted_saved"
    assert found.placeholders["hop_entry"] == "172.30.0.0/16"
    warned = findings(
        through(hop_chain, ("192.168.1.0/24", "172.30.0.0/16")), trial(TRUSTS_PROXY, wide)
    )
    warning = warned["proxy_settings_on_trial"]
    assert warning.translation_key == "proxy_settings_on_trial_hop"
    assert warning.placeholders["hop_entry"] == "172.30.0.0/16"
    # the advice of a repair not about saved settings still names exactly one address
    (found,) = findings(
        through(hop_chain), settings(TRUSTS_PROXY, running="stable", revert_at=None)
    ).values()
    assert found.placeholders["hop_entry"] == f"{HOP}/32"


def test_a_public_proxy_keeps_its_text_and_the_trial_its_public_one() -> None:
    public = "93.184.215.7"
    checked = refused(RefusalReason.SUPPORT_DISABLED, public)
    found = findings(checked, saved(OFF, slot(f"{public}/32")))
    assert found["reverse_proxy_support_disabled"].translation_key == (
        "reverse_proxy_support_disabled_public"
    )
    warned = findings(
        through(peer=public, trusted=(f"{public}/32",)), trial(OFF, slot(f"{public}/32"))
    )
    assert warned["proxy_settings_on_trial"].translation_key == "proxy_settings_on_trial_public"
    assert warned["proxy_settings_on_trial"].placeholders["trusted_address"] == public


@pytest.mark.parametrize(
    ("checked", "read", "text"),
    [
        (
            refused(RefusalReason.SUPPORT_DISABLED),
            saved(OFF, TRUSTS_PROXY),
            "reverse_proxy_support_disabled_saved",
        ),
        (
            refused(RefusalReason.PROXY_NOT_TRUSTED),
            reverted(TRUSTS_OTHER, TRUSTS_PROXY),
            "reverse_proxy_not_trusted_reverted",
        ),
        (
            through(f"{CHECKER}, {HOP}"),
            saved(TRUSTS_PROXY, TRUSTS_BOTH),
            "outer_hop_not_trusted_saved",
        ),
    ],
)
def test_proxy_repairs_are_shown_with_the_settings_text(
    checked: ProxyReport, read: HttpSettings, text: str
) -> None:
    (finding,) = (f for f in findings(checked, read).values() if f.key != "websocket_not_proxied")
    assert finding.translation_key == text
    assert finding.placeholders["saved_at"] == "2026-12-02 07:58 CST"
    strings = json.loads(STRINGS.read_text(encoding="utf-8"))["issues"]
    assert "{saved_at}" in strings[text]["description"]


def test_the_trial_key_is_judged_by_the_settings() -> None:
    key = c.PROXY_SETTINGS_ON_TRIAL.key
    assert settings_keys(through(), trial(OFF, TRUSTS_PROXY)) == {key}
    assert settings_keys(None, trial(OFF, TRUSTS_PROXY)) == set()
    assert settings_keys(None, saved(OFF, TRUSTS_PROXY)) == {key}


def test_unreadable_moments_and_addresses_are_not_guessed_at() -> None:
    read = HttpSettings.read(
        running="stable",
        stable=OFF,
        pending={**TRUSTS_PROXY, "created_at": "yesterday", "error": None},
        revert_at=None,
    )
    assert read is not None
    assert read.saved_at is None
    nameless = replace(refused(RefusalReason.SUPPORT_DISABLED), proxy_address="proxy.lan")
    assert judge_settings(nameless, read).texts == {}
