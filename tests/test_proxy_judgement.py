"""The judgement of what Home Assistant received, over any header values a proxy may send."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import ipaddress
from ipaddress import IPv4Network, IPv6Network
import json
import logging
from pathlib import Path
import re
from unittest.mock import Mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from homeassistant.components.http.forwarded import async_setup_forwarded
from hypothesis import assume, example, given, strategies as st
from multidict import CIMultiDict
import pytest

from custom_components.tls_health.probe import Target
from custom_components.tls_health.proxy import (
    SPOOFED_CLIENT,
    ProxyVerdict,
    is_spoofed,
    judge_observation,
)
from custom_components.tls_health.proxy_judgement import (
    FIRST_ENTRY_NOT_CHECKER,
    PROBLEMS,
    ProvenPath,
    ProxyFinding,
    ProxyReport,
    RefusalTally,
    SettledOn,
    SubChecks,
    is_local,
    judge_hops,
    judge_no_view,
    judge_spoofing,
    plain_findings,
    settled_index,
    with_moves,
)
from custom_components.tls_health.selfprobe import (
    ForwardedRefusal,
    Observation,
    _ForwardedLogWatch,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Pure functions: no `hass` here."""


# The messages HA's forwarded middleware logs when it refuses a proxy (answering 400).
SUPPORT_DISABLED = (
    "A request from a reverse proxy was received from %s, but your HTTP integration is "
    "not set-up for reverse proxies"
)
NOT_TRUSTED = "Received X-Forwarded-For header from an untrusted proxy %s"
REFUSAL_REASONS = {SUPPORT_DISABLED: "support_disabled", NOT_TRUSTED: "proxy_not_trusted"}

# What a repair may show of a received header: a DNS name (253) with brackets and a port, and
# the sentence around it.
DETAIL_BOUND = 700

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
DNS_NAMES = st.lists(LABEL, min_size=1, max_size=5).map(".".join)
NAMES = st.one_of(
    DNS_NAMES,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["hass.example.test", "docker_host", "xn--bcher-kva.example", "::1"]),
)
TARGETS = st.builds(
    Target,
    host=NAMES,
    port=st.integers(1, 65535),
    server_name=st.one_of(st.none(), DNS_NAMES),
)
PEERS = st.one_of(st.none(), st.ip_addresses().map(str))

HUGE = st.sampled_from(["a", "[", ":", "ü", "\u212a", "\x00"]).map(lambda char: char * 1_048_576)
HOSTISH = st.text(alphabet="[]:,@%/#?. \t\n0123456789abcdefkK\u212a\uff03", max_size=40)
HEADER_VALUES = st.one_of(
    st.text(),
    HOSTISH,
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.builds(
        lambda address, port: f"[{address}]:{port}", st.ip_addresses(v=6), st.integers(0, 99999)
    ),
    st.lists(st.ip_addresses().map(str), min_size=1, max_size=4).map(", ".join),
    st.sampled_from(["", " ", ",", ", ,", "[", "]", "[]", "[::1", "::1]", "[127.0.0.1]"]),
    HUGE,
)
OPTIONAL_HEADERS = st.one_of(st.none(), HEADER_VALUES)


def observation(
    *,
    peer: str | None = "192.168.1.9",
    remote: str | None = "192.168.1.20",
    scheme: str = "https",
    host: str = "hass.example.test",
    forwarded_for: str | None = "192.168.1.20",
    forwarded_proto: str | None = "https",
    forwarded_host: str | None = None,
) -> Observation:
    return Observation(
        peer=peer,
        remote=remote,
        scheme=scheme,
        host=host,
        forwarded_for=forwarded_for,
        forwarded_proto=forwarded_proto,
        forwarded_host=forwarded_host,
    )


OBSERVATIONS = st.builds(
    observation,
    peer=PEERS,
    remote=OPTIONAL_HEADERS,
    scheme=st.one_of(st.sampled_from(["http", "https", "HTTPS", "wss"]), HEADER_VALUES),
    host=HEADER_VALUES,
    forwarded_for=OPTIONAL_HEADERS,
    forwarded_proto=OPTIONAL_HEADERS,
    forwarded_host=OPTIONAL_HEADERS,
)


def names_the_target(host: str, name: str) -> bool:
    """The Host forms that name the target: any ASCII case, IPv6 in brackets, any port."""
    form = rf"\[{re.escape(name)}\]" if ":" in name else re.escape(name)
    return re.fullmatch(rf"{form}(:[0-9]*)?", host, re.ASCII | re.IGNORECASE) is not None


@st.composite
def spellings(draw: st.DrawFn, name: str) -> str:
    """The target's name as a proxy may forward it: any case, bracketed IPv6, with a port."""
    upper = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    host = "".join(char.upper() if up else char for char, up in zip(name, upper, strict=True))
    host = f"[{host}]" if ":" in name else host
    port = draw(st.one_of(st.none(), st.just(""), st.integers(0, 65535).map(str)))
    return host if port is None else f"{host}:{port}"


@st.composite
def near_misses(draw: st.DrawFn, name: str) -> str:
    """A spelling of the name with something slipped in: userinfo, a path, a tab, a bad port."""
    host = draw(spellings(name))
    junk = draw(
        st.one_of(st.sampled_from(["@", "x@", "/", "#", "?", "\t", ":", "[", "]"]), HOSTISH)
    )
    where = draw(st.integers(0, len(host)))
    return host[:where] + junk + host[where:]


def judged(observed: Observation, target: Target) -> tuple[ProxyVerdict, str, str | None]:
    verdict, detail, proxy_address = judge_observation(observed, target)
    assert isinstance(verdict, ProxyVerdict)
    assert isinstance(detail, str)
    assert len(detail) <= DETAIL_BOUND
    return verdict, detail, proxy_address


@given(observed=OBSERVATIONS, target=TARGETS)
def test_any_observation_is_judged(observed: Observation, target: Target) -> None:
    verdict, _, proxy_address = judged(observed, target)
    assert verdict in {
        ProxyVerdict.OK,
        ProxyVerdict.DIRECT,
        ProxyVerdict.FORWARDED_FOR_MISSING,
        ProxyVerdict.FORWARDED_PROTO_MISSING,
        ProxyVerdict.HOST_NOT_FORWARDED,
    }
    assert proxy_address == (None if verdict is ProxyVerdict.DIRECT else observed.peer)


@given(observed=OBSERVATIONS, target=TARGETS)
def test_no_forwarded_for_is_direct_over_https_else_missing(
    observed: Observation, target: Target
) -> None:
    verdict, detail, _ = judged(replace(observed, forwarded_for=None), target)
    if observed.scheme == "https":
        assert verdict is ProxyVerdict.DIRECT
    else:
        assert verdict is ProxyVerdict.FORWARDED_FOR_MISSING
        assert str(observed.peer) in detail


@given(observed=OBSERVATIONS, forwarded_for=HEADER_VALUES, target=TARGETS)
def test_forwarded_for_without_proto_is_proto_missing(
    observed: Observation, forwarded_for: str, target: Target
) -> None:
    missing = replace(observed, forwarded_for=forwarded_for, forwarded_proto=None)
    assert judged(missing, target)[0] is ProxyVerdict.FORWARDED_PROTO_MISSING


@given(data=st.data(), target=TARGETS, proto=HEADER_VALUES)
def test_the_target_name_in_any_spelling_is_forwarded(
    data: st.DataObject, target: Target, proto: str
) -> None:
    host = data.draw(spellings(target.expected_name))
    verdict, detail, _ = judged(observation(host=host, forwarded_proto=proto), target)
    assert verdict is ProxyVerdict.OK, detail


@given(data=st.data(), target=TARGETS)
def test_any_other_host_is_not_forwarded(data: st.DataObject, target: Target) -> None:
    name = target.expected_name
    host = data.draw(st.one_of(HEADER_VALUES, near_misses(name)))
    assume(not names_the_target(host, name))
    verdict, detail, _ = judged(observation(host=host), target)
    assert verdict is ProxyVerdict.HOST_NOT_FORWARDED
    assert detail.startswith("Home Assistant sees the host ")


SECRETS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=30).map(
    lambda text: f"s3cret-{text}"
)


@given(user=HOSTISH, secret=SECRETS, rest=HEADER_VALUES, target=TARGETS)
def test_userinfo_in_a_host_is_not_shown(user: str, secret: str, rest: str, target: Target) -> None:
    """`user:password@host` is no Host value; the password must not land in a repair."""
    assume(secret not in rest)
    verdict, detail, _ = judged(observation(host=f"{user}:{secret}@{rest}"), target)
    assert verdict is ProxyVerdict.HOST_NOT_FORWARDED
    assert secret not in detail


@pytest.mark.parametrize(
    "host",
    [
        "[",  # urlsplit: Invalid IPv6 URL
        "a]",
        "[::1",
        "[127.0.0.1]",  # urlsplit: An IPv4 address cannot be in brackets
        "[hass.example.test]",
        "hass\uff03x",  # urlsplit: invalid characters under NFKC normalization
        "hass.example.test\uff1a443",
        "\u212aey.example",  # lower() folds the Kelvin sign into k
        "user:password@hass.example.test",  # urlsplit's hostname drops the userinfo
        "hass.exa\tmple.test",  # urlsplit drops tabs and newlines
        "hass.example.test\n",
        " hass.example.test",
        "hass.example.test:abc",  # urlsplit's hostname ignores the port
        "hass.example.test:443:443",
        "hass.example.test:\u0664\u0664\u0663",  # Arabic-Indic digits
        "hass.example.test/api",
        "hass.example.test#x",
        "hass.example.test.",
        "hass.example.test.evil.test",
        "",
    ],
)
def test_malformed_hosts_are_not_the_target(host: str) -> None:
    for name in ("hass.example.test", "key.example"):
        verdict, _, _ = judged(observation(host=host), Target(host=name))
        assert verdict is ProxyVerdict.HOST_NOT_FORWARDED, (host, name)


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("hass.example.test", Target(host="hass.example.test")),
        ("HASS.Example.TEST:8443", Target(host="hass.example.test", port=8443)),
        ("hass.example.test:", Target(host="hass.example.test")),
        ("hass.example.test:443", Target(host="192.168.1.10", server_name="hass.example.test")),
        ("[2001:DB8::1]:8443", Target(host="2001:db8::1", port=8443)),
        ("[::1]", Target(host="::1")),
        ("192.168.1.10:8443", Target(host="192.168.1.10", port=8443)),
    ],
)
def test_the_target_name_is_forwarded(host: str, target: Target) -> None:
    assert judged(observation(host=host), target)[0] is ProxyVerdict.OK


def test_a_huge_host_is_cut_short_in_the_detail() -> None:
    host = "a" * 1_048_576
    verdict, detail, _ = judged(observation(host=host), Target(host="hass.example.test"))
    assert verdict is ProxyVerdict.HOST_NOT_FORWARDED
    assert "a" * 100 in detail
    assert detail.endswith("... instead of hass.example.test")


def test_markup_in_a_host_is_not_shown() -> None:
    """The detail lands in a repair's Markdown: a link or an HTML tag there is not rendered."""
    host = "[click](https://evil.test)<img src=x>"
    _, detail, _ = judged(observation(host=host), Target(host="hass.example.test"))
    shown = re.fullmatch(
        r"Home Assistant sees the host (.*) instead of hass\.example\.test", detail
    )
    assert shown is not None
    assert not set(shown[1]) & set("()<>= ")


@given(observed=OBSERVATIONS)
def test_spoofed_only_when_home_assistant_took_the_made_up_client(observed: Observation) -> None:
    assert is_spoofed(observed) == (observed.remote == SPOOFED_CLIENT)
    assert is_spoofed(replace(observed, remote=SPOOFED_CLIENT))


class Transport:
    """What a request's transport tells about its socket: a stand-in, no socket is needed."""

    def __init__(self, peername: object) -> None:
        self._extra = {"peername": peername, "sockname": ("127.0.0.1", 8123)}

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._extra.get(name, default)


PEERNAMES = st.one_of(
    st.none(),
    st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535)),
    st.tuples(st.ip_addresses(v=6).map(str), st.integers(0, 65535), st.just(0), st.just(0)),
    st.sampled_from(["/run/hass.sock", "", b"\x00abstract"]),
)
FORWARDED_NAMES = ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host")
HEADER_LISTS = st.lists(
    st.tuples(
        st.sampled_from([*FORWARDED_NAMES, "x-forwarded-for", "Host", "Cookie"]), HEADER_VALUES
    ),
    max_size=6,
)


@given(headers=HEADER_LISTS, peername=PEERNAMES, target=TARGETS)
def test_any_request_is_observed_and_judged(
    headers: list[tuple[str, str]], peername: object, target: Target
) -> None:
    request = make_mocked_request(
        "GET", "/api/tls_health/self_probe/x", CIMultiDict(headers), transport=Transport(peername)
    )
    observed = Observation.of(request)
    for name, field in zip(
        FORWARDED_NAMES, ("forwarded_for", "forwarded_proto", "forwarded_host"), strict=True
    ):
        values = [value for key, value in headers if key.lower() == name.lower()]
        assert getattr(observed, field) == (", ".join(values) if values else None)
    assert observed.peer == (peername[0] if isinstance(peername, tuple) and peername else None)
    judged(observed, target)


# --- HA's forwarded middleware log ---------------------------------------------------------------


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


ANYTHING = st.one_of(
    st.none(),
    st.integers(),
    st.binary(max_size=20),
    st.text(),
    st.ip_addresses(),
    st.ip_addresses().map(str),
    st.just(Unprintable()),
    st.builds(ValueError, st.text(max_size=10)),
)
MESSAGES = st.one_of(
    st.sampled_from([SUPPORT_DISABLED, NOT_TRUSTED]),
    st.builds(
        lambda head, template, tail: f"{head}{template}{tail}",
        st.text(),
        st.sampled_from([SUPPORT_DISABLED, NOT_TRUSTED]),
        st.text(),
    ),
    st.sampled_from(["not set-up for reverse proxies", "untrusted proxy"]).map(lambda m: [m]),
    st.sampled_from([SUPPORT_DISABLED, NOT_TRUSTED]).map(lambda m: m.encode()),
    ANYTHING,
)
ARGS = st.one_of(
    st.none(),
    st.tuples(),
    st.lists(ANYTHING, max_size=3).map(tuple),
    st.lists(ANYTHING, min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=5), ANYTHING, max_size=3),
    ANYTHING,
)


def refusals_of(msg: object, args: object) -> list[ForwardedRefusal]:
    refusals: list[ForwardedRefusal] = []
    record = logging.LogRecord(
        "homeassistant.components.http.forwarded", logging.ERROR, __file__, 1, msg, None, None
    )
    record.args = args  # type: ignore[assignment]  # any shape, as a careless caller may log
    paths: list[str | None] = []

    def refused(refusal: ForwardedRefusal, path: str | None) -> None:
        refusals.append(refusal)
        paths.append(path)

    _ForwardedLogWatch(refused).emit(record)
    assert paths in ([], [None])  # not logged by the forwarded middleware: nobody's request
    return refusals


def logged_reason(msg: object) -> str | None:
    if not isinstance(msg, str):
        return None
    if "not set-up for reverse proxies" in msg:
        return "support_disabled"
    return "proxy_not_trusted" if "untrusted proxy" in msg else None


def logged_address(args: object) -> str | None:
    """HA logs the proxy's address as an ip_address; a string is read too."""
    if not isinstance(args, tuple) or not args:
        return None
    if not isinstance(args[0], str | ipaddress.IPv4Address | ipaddress.IPv6Address):
        return None
    try:
        return str(ipaddress.ip_address(str(args[0])))
    except ValueError:
        return None


@given(msg=MESSAGES, args=ARGS)
@example(msg=7, args=("192.168.1.2",))
@example(msg=["untrusted proxy"], args=("192.168.1.2",))
@example(msg=NOT_TRUSTED, args=(Unprintable(),))
def test_any_log_record_is_read_without_raising(msg: object, args: object) -> None:
    refusals = refusals_of(msg, args)
    reason = logged_reason(msg)
    address = logged_address(args)
    if reason is None or address is None:
        assert refusals == []
    else:
        assert [(refusal.reason, refusal.proxy_address) for refusal in refusals] == [
            (reason, address)
        ]


@given(
    template=st.sampled_from([SUPPORT_DISABLED, NOT_TRUSTED]),
    address=st.one_of(st.ip_addresses(), st.ip_addresses().map(str)),
)
def test_both_refusals_name_the_proxy(template: str, address: object) -> None:
    refusals = refusals_of(template, (address,))
    assert [(refusal.reason, refusal.proxy_address) for refusal in refusals] == [
        (REFUSAL_REASONS[template], str(ipaddress.ip_address(str(address))))
    ]


# --- whether a real client outside trusted_proxies can choose its address ------------------------


def networks(*entries: str) -> list[IPv4Network | IPv6Network]:
    return [ipaddress.ip_network(entry) for entry in entries]


def forged_arrival(chain: str, remote: str, peer: str = "127.0.0.1") -> Observation:
    return observation(peer=peer, remote=remote, forwarded_for=chain)


PLAIN = observation(peer="127.0.0.1", remote="127.0.0.1", forwarded_for="127.0.0.1")


def test_a_proxy_appending_the_peer_on_the_same_host_is_not_spoofable() -> None:
    # nginx $proxy_add_x_forwarded_for on the host, trusted_proxies: 127.0.0.1: only the
    # checker's own address (the proxy's) is trusted, an outside client's is appended.
    forged = forged_arrival(f"{SPOOFED_CLIENT}, 127.0.0.1", SPOOFED_CLIENT)
    judgement = judge_spoofing(PLAIN, forged, 204, networks("127.0.0.1/32"))
    assert judgement is not None
    assert judgement.spoofable is False


def test_a_proxy_passing_the_client_value_through_is_spoofable() -> None:
    forged = forged_arrival(SPOOFED_CLIENT, SPOOFED_CLIENT, peer="127.0.0.5")
    plain = observation(peer="127.0.0.5", forwarded_for=None, scheme="http")
    judgement = judge_spoofing(plain, forged, 204, networks("127.0.0.5/32"))
    assert judgement is not None
    assert (judgement.spoofable, judgement.passes_through) == (True, True)


def test_a_trusted_range_holding_a_client_is_spoofable_and_named() -> None:
    forged = forged_arrival(f"{SPOOFED_CLIENT}, 192.168.1.20", SPOOFED_CLIENT, "192.168.1.9")
    plain = observation(peer="192.168.1.9", forwarded_for="192.168.1.20")
    judgement = judge_spoofing(plain, forged, 204, networks("10.0.0.0/8", "192.168.1.0/24"))
    assert judgement is not None
    assert judgement.spoofable is True
    assert judgement.networks == "192.168.1.0/24"
    assert judgement.chain == f"{SPOOFED_CLIENT}, 192.168.1.20"


def test_a_wide_range_holding_only_the_checker_at_the_proxy_address_is_undecided() -> None:
    forged = forged_arrival(f"{SPOOFED_CLIENT}, 192.168.1.9", SPOOFED_CLIENT, "192.168.1.9")
    plain = observation(peer="192.168.1.9", forwarded_for="192.168.1.9")
    judgement = judge_spoofing(plain, forged, 204, networks("192.168.1.0/24"))
    assert judgement is not None
    assert judgement.spoofable is None
    assert "192.168.1.0/24" in judgement.detail


@pytest.mark.parametrize(
    ("forged", "status", "spoofable"),
    [
        (None, 400, False),  # HA refuses a client-sent header
        (None, None, None),  # no answer: not judged at all
        (forged_arrival(f"{SPOOFED_CLIENT}, 127.0.0.1", "127.0.0.1"), 204, False),
        (forged_arrival("127.0.0.1", "127.0.0.1"), 204, False),  # the proxy replaces it
        (forged_arrival(f"junk, {SPOOFED_CLIENT}", SPOOFED_CLIENT), 204, None),
    ],
)
def test_what_cannot_be_spoofed_or_decided(
    forged: Observation | None, status: int | None, spoofable: bool | None
) -> None:
    judgement = judge_spoofing(PLAIN, forged, status, networks("127.0.0.1/32"))
    assert (judgement.spoofable if judgement else None) is spoofable
    if forged is None and status is None:
        assert judgement is None


@given(
    chain=st.lists(st.ip_addresses().map(str), max_size=4),
    trusted=st.lists(
        st.builds(
            lambda address, prefix: ipaddress.ip_network(
                f"{address}/{prefix % (33 if address.version == 4 else 129)}", strict=False
            ),
            st.ip_addresses(),
            st.integers(0, 128),
        ),
        max_size=4,
    ),
    peer=st.ip_addresses().map(str),
)
def test_spoofable_only_when_home_assistant_believed_the_made_up_client(
    chain: list[str], trusted: list[IPv4Network | IPv6Network], peer: str
) -> None:
    received = ", ".join([SPOOFED_CLIENT, *chain])
    for remote in (SPOOFED_CLIENT, peer):
        forged = forged_arrival(received, remote, peer)
        judgement = judge_spoofing(PLAIN, forged, 204, trusted)
        assert judgement is not None
        if remote != SPOOFED_CLIENT:
            assert judgement.spoofable is False


def test_every_sub_check_is_reported_and_the_worst_is_the_verdict() -> None:
    target = Target(host="hass.example.test", port=443)
    plain = observation(peer="127.0.0.5", forwarded_for=None, forwarded_proto=None, scheme="http")
    checks = SubChecks(plain, list(plain_findings(plain, target)))
    checks.forged = forged_arrival(SPOOFED_CLIENT, SPOOFED_CLIENT, "127.0.0.5")
    checks.spoofing(judge_spoofing(plain, checks.forged, 204, networks("127.0.0.5/32")))
    checks.hops(networks("127.0.0.5/32"))
    checks.websocket(works=False)
    report = checks.report()
    assert report.verdict is ProxyVerdict.CLIENT_IP_SPOOFABLE
    # pass-through: clients that send the header are not seen as the proxy
    assert [finding.verdict for finding in report.findings] == [
        ProxyVerdict.FORWARDED_PROTO_MISSING,
        ProxyVerdict.CLIENT_IP_SPOOFABLE,
        ProxyVerdict.WEBSOCKET_BLOCKED,
    ]
    assert report.judged_verdicts == PROBLEMS


def test_sub_checks_that_could_not_judge_clear_nothing() -> None:
    checks = SubChecks(PLAIN)
    checks.spoofing(None)
    checks.websocket(works=None)
    report = checks.report()
    assert report.verdict is ProxyVerdict.OK
    assert ProxyVerdict.CLIENT_IP_SPOOFABLE not in report.judged_verdicts
    assert ProxyVerdict.WEBSOCKET_BLOCKED not in report.judged_verdicts
    assert len(report.notes) == 2


@pytest.mark.parametrize(
    ("status", "verdict", "judged"),
    [
        (502, ProxyVerdict.UPSTREAM_UNREACHABLE, {ProxyVerdict.UPSTREAM_UNREACHABLE}),
        (None, ProxyVerdict.INCONCLUSIVE, set()),
        (302, ProxyVerdict.INCONCLUSIVE, set()),
        (200, ProxyVerdict.INCONCLUSIVE, set()),
        # a 400 that HA did not log as the refusal of this very request proves no proxy address
        (400, ProxyVerdict.INCONCLUSIVE, set()),
    ],
)
def test_a_request_that_never_reached_the_view(
    status: int | None, verdict: ProxyVerdict, judged: set[ProxyVerdict]
) -> None:
    report = judge_no_view(status, None, upstream=("https", 8443))
    assert report.verdict is verdict
    assert report.judged_verdicts == judged
    if verdict is ProxyVerdict.UPSTREAM_UNREACHABLE:
        assert report.findings[0].placeholders == {
            "status": "502",
            "scheme": "https",
            "port": "8443",
        }


def test_every_verdict_has_a_state_and_an_icon() -> None:
    component = Path(__file__).parent.parent / "custom_components" / "tls_health"
    strings = json.loads((component / "translations" / "en.json").read_text(encoding="utf-8"))
    icons = json.loads((component / "icons.json").read_text(encoding="utf-8"))
    states = strings["entity"]["sensor"]["reverse_proxy"]["state"]
    icon_states = icons["entity"]["sensor"]["reverse_proxy"]["state"]
    assert set(states) == {verdict.value for verdict in ProxyVerdict}
    assert set(icon_states) == {verdict.value for verdict in ProxyVerdict}
    assert all(len(name) <= 28 for name in states.values())


@given(address=st.ip_addresses())
def test_refusals_from_public_addresses_are_only_counted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    tally = RefusalTally()
    raised = [tally.add(str(address), float(moment)) for moment in range(5)]
    if not is_local(address):
        assert raised == [False] * 5
        assert tally.public == 5
        assert tally.repeating is None
    else:
        assert raised == [False, False, True, False, False]
        assert tally.repeating == str(address)
    assert str(address) not in tally.placeholders().values()


# --- chains of proxies: where Home Assistant settles, and who passes a client's value on ---------


async def settled_by_home_assistant(
    chain: list[str], peer: str, trusted: list[IPv4Network | IPv6Network]
) -> str | None:
    """The client address HA's own forwarded middleware settles on for a request (the oracle)."""
    app = web.Application()
    async_setup_forwarded(app, True, trusted)
    transport = Mock()
    transport.get_extra_info.return_value = (peer, 50000)
    request = make_mocked_request(
        "GET",
        "/",
        headers=CIMultiDict({"X-Forwarded-For": ", ".join(chain)}),
        transport=transport,
    )
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.remote)
        return web.Response()

    try:
        await app.middlewares[0](request, handler)
    except web.HTTPBadRequest:
        return None
    return seen[0]


CHECKER = "127.0.0.1"


def arrival(chain: list[str], remote: str | None, peer: str = "127.0.0.5") -> Observation:
    return observation(peer=peer, remote=remote, forwarded_for=", ".join(chain))


@given(
    chain=st.lists(
        st.sampled_from(["127.0.0.1", "127.0.0.6", "127.0.0.7", "10.0.0.2"]), min_size=1, max_size=4
    ),
    trusted=st.lists(
        st.sampled_from(
            ["127.0.0.5/32", "127.0.0.6/32", "127.0.0.7/32", "127.0.0.0/8", "10.0.0.0/8"]
        ),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
async def test_home_assistant_settles_where_its_own_middleware_does(
    chain: list[str], trusted: list[str]
) -> None:
    nets = networks("127.0.0.5/32", *trusted)
    remote = await settled_by_home_assistant(chain, "127.0.0.5", nets)
    assert remote is not None
    decided, found = judge_hops(arrival(chain, remote), nets)
    assert decided
    hops = [ipaddress.ip_address(hop) for hop in chain]
    stop = settled_index(hops, nets)
    assert str(hops[stop]) == remote
    # a hop in front of the proxy, not the checker: every client coming this way looks like it
    assert (found is not None) == (stop > 0)
    if found is not None:
        assert found.placeholders["hop"] == remote
        assert found.placeholders["previous_hop"] == chain[stop - 1]


def test_one_proxy_never_stops_at_a_hop() -> None:
    # the single-proxy setups: whatever is trusted, the chain holds only the client
    for trusted in (networks("127.0.0.5/32"), networks("127.0.0.0/8")):
        assert judge_hops(arrival(["127.0.0.1"], "127.0.0.1"), trusted) == (True, None)
    # HA settles on the first entry, which is not the checker (a router on the checker's own
    # way): HA settles on no hop the proxy's own path appended, so a repair about one is over
    assert judge_hops(arrival(["127.0.0.6"], "127.0.0.6"), networks("127.0.0.5/32")) == (
        True,
        None,
    )


def test_trust_stopping_at_the_outer_hop_names_it_and_the_hop_before() -> None:
    decided, found = judge_hops(
        arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.6"), networks("127.0.0.5/32")
    )
    assert decided
    assert found is not None
    assert found.verdict is ProxyVerdict.OUTER_HOP_NOT_TRUSTED
    assert found.placeholders == {
        "hop": "127.0.0.6",
        "previous_hop": "127.0.0.1",
        "hop_entry": "127.0.0.6/32",
    }
    both = networks("127.0.0.5/32", "127.0.0.6/32")
    assert judge_hops(arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.1"), both) == (
        True,
        None,
    )


@pytest.mark.parametrize(
    ("chain", "remote"),
    [
        ("127.0.0.1, not-an-address", "127.0.0.1"),
        (", ".join(["127.0.0.6"] * 40), "127.0.0.6"),  # longer than read
        ("127.0.0.1, 127.0.0.6", "192.168.1.1"),  # not where HA's rule leads
    ],
)
def test_a_chain_that_cannot_be_read_decides_nothing(chain: str, remote: str) -> None:
    plain = observation(peer="127.0.0.5", remote=remote, forwarded_for=chain)
    checks = SubChecks(plain)
    checks.hops(networks("127.0.0.5/32"))
    assert ProxyVerdict.OUTER_HOP_NOT_TRUSTED not in checks.judged
    assert not checks.findings


def test_an_outer_hop_passing_a_clients_value_through_is_spoofable_through_two_hops() -> None:
    plain = arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.1")
    forged = arrival([SPOOFED_CLIENT, "127.0.0.6"], SPOOFED_CLIENT)
    both = networks("127.0.0.5/32", "127.0.0.6/32")
    judgement = judge_spoofing(plain, forged, 204, both, egress=CHECKER)
    assert judgement is not None
    assert (judgement.spoofable, judgement.passes_through, judgement.hop) == (
        True,
        True,
        "127.0.0.6",
    )
    # the outer hop adds nothing at all: the plain chain starts with its address, not ours
    alone = arrival(["127.0.0.6"], "127.0.0.6")
    judgement = judge_spoofing(alone, forged, 204, both, egress=CHECKER)
    assert judgement is not None
    assert (judgement.spoofable, judgement.hop) == (True, "127.0.0.6")
    checks = SubChecks(plain)
    checks.forged = forged
    checks.spoofing(judgement)
    (finding,) = checks.findings
    assert finding.cause == "client_ip_spoofable_outer"
    assert finding.placeholders["hop"] == "127.0.0.6"


def test_two_appending_hops_both_trusted_are_not_spoofable() -> None:
    plain = arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.1")
    forged = arrival([SPOOFED_CLIENT, "127.0.0.1", "127.0.0.6"], "127.0.0.1")
    trusted = networks("127.0.0.5/32", "127.0.0.6/32")
    judgement = judge_spoofing(plain, forged, 204, trusted, egress=CHECKER)
    assert judgement is not None
    assert judgement.spoofable is False


def test_trusting_a_hop_that_passes_values_through_is_not_advised() -> None:
    # only the inner proxy is trusted: HA stops at the outer hop, and the forged request shows
    # that hop passing a client's value on: trusting it as it is would let anyone choose
    plain = arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.6")
    forged = arrival([SPOOFED_CLIENT, "127.0.0.6"], "127.0.0.6")
    inner = networks("127.0.0.5/32")
    checks = SubChecks(plain)
    checks.forged = forged
    checks.spoofing(judge_spoofing(plain, forged, 204, inner, egress=CHECKER))
    checks.hops(inner)
    (finding,) = checks.findings
    assert finding.verdict is ProxyVerdict.OUTER_HOP_NOT_TRUSTED
    assert finding.cause == "outer_hop_not_trusted_passes_through"


def test_a_hop_sharing_the_checkers_address_is_judged_where_home_assistant_stopped() -> None:
    # the outer hop runs on the checker's host: its address stands first and where HA stopped;
    # it passes a client's value through, so trusting it as it is must not be advised
    plain = arrival(["127.0.0.6", "127.0.0.6"], "127.0.0.6")
    forged = arrival([SPOOFED_CLIENT, "127.0.0.6"], "127.0.0.6")
    inner = networks("127.0.0.5/32")
    checks = SubChecks(plain)
    checks.forged = forged
    checks.hops(inner)
    (finding,) = checks.findings
    assert finding.verdict is ProxyVerdict.OUTER_HOP_NOT_TRUSTED
    assert finding.cause == "outer_hop_not_trusted_passes_through"


def test_trusting_the_hop_ends_the_hop_repair_when_the_first_entry_is_not_the_checker() -> None:
    # a tunnel in front of the proxy: the first entry is this home's public address as the
    # tunnel's edge saw it, never the checker's own; trusting the tunnel's hop is the fix
    tunnel = "172.30.33.5"
    plain = arrival(["198.51.100.4", tunnel], tunnel)
    checks = SubChecks(plain)
    checks.hops(networks("127.0.0.5/32"))
    (finding,) = checks.findings
    assert finding.placeholders["hop"] == tunnel
    fixed = SubChecks(arrival(["198.51.100.4", tunnel], "198.51.100.4"), egress="192.168.1.10")
    fixed.hops(networks("127.0.0.5/32", f"{tunnel}/32"))
    assert ProxyVerdict.OUTER_HOP_NOT_TRUSTED in fixed.judged
    assert not fixed.findings
    assert fixed.notes == [FIRST_ENTRY_NOT_CHECKER]  # what the check cannot tell, said
    seen_through = SubChecks(arrival([CHECKER, tunnel], CHECKER), egress=CHECKER)
    seen_through.hops(networks("127.0.0.5/32", f"{tunnel}/32"))
    assert not seen_through.findings
    assert not seen_through.notes


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def refused(address: str) -> ProxyReport:
    finding = ProxyFinding(ProxyVerdict.PROXY_NOT_TRUSTED, "")
    return ProxyReport(ProxyVerdict.PROXY_NOT_TRUSTED, "", address, findings=(finding,))


def test_a_proxy_moved_away_from_its_trusted_address_says_so() -> None:
    earlier = ProvenPath("172.17.0.5", "192.168.1.20", NOW)
    trusted = networks("172.17.0.5/32")
    (finding,) = with_moves(refused("172.17.0.7"), earlier, trusted).findings
    assert finding.cause == "reverse_proxy_not_trusted_moved"
    assert finding.placeholders["previous_address"] == "172.17.0.5"
    # the earlier address was not trusted either: nothing moved away from the trust
    (finding,) = with_moves(refused("172.17.0.7"), earlier, networks("10.0.0.1/32")).findings
    assert finding.cause == ""
    # same address: not a move
    (finding,) = with_moves(refused("172.17.0.5"), earlier, trusted).findings
    assert finding.cause == ""
    assert with_moves(refused("172.17.0.7"), None, trusted) == refused("172.17.0.7")


def test_a_hop_moved_away_from_its_trusted_address_says_so() -> None:
    earlier = ProvenPath("127.0.0.5", "127.0.0.1", NOW, ("172.30.33.5",))
    trusted = networks("127.0.0.5/32", "172.30.33.5/32")
    plain = arrival(["127.0.0.1", "172.30.33.7"], "172.30.33.7")
    _, found = judge_hops(plain, trusted)
    assert found is not None
    report = ProxyReport(found.verdict, "", "127.0.0.5", plain, findings=(found,))
    (finding,) = with_moves(report, earlier, trusted).findings
    assert finding.cause == "outer_hop_not_trusted_moved"
    assert finding.placeholders["previous_address"] == "172.30.33.5"


def test_a_moved_hop_is_compared_with_the_hop_as_far_from_the_proxy() -> None:
    # two trusted hops in front of the proxy; the one next to it restarts at a new address
    earlier = ProvenPath("127.0.0.5", "127.0.0.1", NOW, ("172.30.33.5", "172.30.34.5"))
    trusted = networks("127.0.0.5/32", "172.30.33.5/32", "172.30.34.5/32")
    plain = arrival(["127.0.0.1", "172.30.33.5", "172.30.34.9"], "172.30.34.9")
    _, found = judge_hops(plain, trusted)
    assert found is not None
    report = ProxyReport(found.verdict, "", "127.0.0.5", plain, findings=(found,))
    (finding,) = with_moves(report, earlier, trusted).findings
    assert finding.placeholders["previous_address"] == "172.30.34.5"
    # a hop added in between: the address as far from the proxy is still in use, not moved
    added = arrival(["127.0.0.1", "172.30.33.5", "172.30.35.1", "172.30.34.5"], "172.30.35.1")
    _, found = judge_hops(added, trusted)
    assert found is not None
    report = ProxyReport(found.verdict, "", "127.0.0.5", added, findings=(found,))
    (finding,) = with_moves(report, earlier, trusted).findings
    assert finding.cause == ""


def test_a_proven_path_is_kept_and_read_back() -> None:
    plain = arrival(["127.0.0.1", "127.0.0.6"], "127.0.0.6")
    checked = ProxyReport(ProxyVerdict.OK, "", "127.0.0.5", plain, egress=CHECKER)
    path = ProvenPath.of(checked, NOW)
    assert path == ProvenPath(
        "127.0.0.5", "127.0.0.6", NOW, ("127.0.0.6",), settled_on=SettledOn.HOP, egress=CHECKER
    )
    assert ProvenPath.from_stored(json.loads(json.dumps(path.stored()))) == path
    assert ProvenPath.of(refused("172.17.0.7"), NOW) is None  # the last path that got through
    direct = observation(peer="192.168.1.20", forwarded_for=None, scheme="https")
    assert ProvenPath.of(ProxyReport(ProxyVerdict.DIRECT, "", None, direct), NOW) is None


@given(
    stored=st.dictionaries(
        st.sampled_from(["proxy_address", "remote", "hops", "seen_at", "settled_on"]),
        st.one_of(
            st.none(),
            st.text(max_size=30),
            st.lists(st.text(max_size=20), max_size=40),
            st.integers(),
        ),
    )
)
def test_anything_stored_is_read_without_raising(stored: dict[str, object]) -> None:
    path = ProvenPath.from_stored(stored)
    if path is not None:
        assert ipaddress.ip_address(path.proxy_address)
        assert all(ipaddress.ip_address(hop) for hop in path.hops)


CHAINS = st.one_of(
    OPTIONAL_HEADERS,
    st.lists(st.one_of(st.ip_addresses().map(str), HOSTISH), max_size=40).map(", ".join),
)
TRUSTED = st.lists(
    st.builds(
        lambda address, prefix: ipaddress.ip_network(f"{address}/{prefix}", strict=False),
        st.ip_addresses(v=4),
        st.integers(0, 32),
    ),
    max_size=4,
)


@given(
    plain=st.builds(observation, peer=PEERS, remote=OPTIONAL_HEADERS, forwarded_for=CHAINS),
    forged=st.one_of(
        st.none(), st.builds(observation, peer=PEERS, remote=OPTIONAL_HEADERS, forwarded_for=CHAINS)
    ),
    trusted=TRUSTED,
    egress=st.one_of(st.none(), st.ip_addresses().map(str), HOSTISH),
    proven=st.one_of(
        st.none(),
        st.builds(
            ProvenPath,
            proxy_address=st.ip_addresses().map(str),
            remote=st.one_of(st.none(), st.ip_addresses().map(str)),
            seen_at=st.just(NOW),
            hops=st.lists(st.ip_addresses().map(str), max_size=3).map(tuple),
        ),
    ),
)
def test_any_chain_is_judged_without_raising(
    plain: Observation,
    forged: Observation | None,
    trusted: list[IPv4Network | IPv6Network],
    egress: str | None,
    proven: ProvenPath | None,
) -> None:
    checks = SubChecks(plain)
    checks.forged = forged
    checks.spoofing(judge_spoofing(plain, forged, 204, trusted, egress=egress))
    checks.hops(trusted)
    report = with_moves(checks.report(), proven, trusted)
    for finding in report.findings:
        # a named hop or earlier address is always an address the check's own request proved
        for key in ("hop", "previous_hop", "previous_address"):
            if value := finding.placeholders.get(key):
                assert ipaddress.ip_address(value)
        if hop := finding.placeholders.get("hop"):
            assert hop in (plain.forwarded_for or "") or hop in (
                (forged and forged.forwarded_for) or ""
            )


def test_a_path_is_the_same_whenever_it_was_proven() -> None:
    path = ProvenPath("127.0.0.5", "127.0.0.1", NOW, ("127.0.0.6",))
    assert path.same_path(replace(path, seen_at=NOW + timedelta(hours=1)))
    assert not path.same_path(replace(path, hops=("127.0.0.7",)))
    assert not path.same_path(replace(path, remote="127.0.0.6"))
