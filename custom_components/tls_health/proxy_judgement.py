"""Judgement of what reached Home Assistant through a reverse proxy. No I/O.

A check sends a plain request, one with a made-up X-Forwarded-For and a WebSocket upgrade; the
self-probe view records what arrived. Every sub-check is judged on its own, and a sub-check that
could not be decided is neither a finding nor a reason to clear one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
import re
from typing import TYPE_CHECKING, Any, Final

from aiohttp import hdrs

from .probe import DEFAULT_PORT, Target

if TYPE_CHECKING:
    from aiohttp import web

type Network = IPv4Network | IPv6Network

# A documentation address (RFC 5737): if HA takes it for the client, any client can pretend.
SPOOFED_CLIENT: Final = "203.0.113.77"
NO_PROTO: Final = "the proxy sends no X-Forwarded-Proto: HA takes the client's scheme for http"
UNDECIDED_NOTE: Final = (
    "Home Assistant believed a made-up X-Forwarded-For because this check reaches the proxy "
    "from an address trusted_proxies trusts; whether ordinary clients share it cannot be told"
)
NO_WEBSOCKET: Final = "a WebSocket upgrade of /api/websocket does not get through the proxy"
FORWARDS_ALL: Final = "the proxy forwards what Home Assistant needs"
# A received Host is shown in a repair: a DNS name (253) with brackets and a port fits.
MAX_SHOWN_HOST: Final = 270
# A received X-Forwarded-For chain is read up to this many hops (HA reads them all; we need few).
MAX_HOPS: Final = 32
_PORT: Final = re.compile(r"(:[0-9]*)?")
_NOT_SHOWN: Final = re.compile(r"[^A-Za-z0-9._:\[\]-]")
# The causes of client_ip_spoofable that are not the proxy: a trusted_proxies range, or a hop in
# front of the proxy that passes the client's value through.
SPOOFABLE_RANGE: Final = "client_ip_spoofable_range"
SPOOFABLE_OUTER: Final = "client_ip_spoofable_outer"
# The cause of outer_hop_not_trusted when that hop passes the client's value through.
HOP_PASSES_THROUGH: Final = "outer_hop_not_trusted_passes_through"
# The causes of a proxy or hop not trusted that an earlier check proved at a trusted address.
MOVED_NOT_TRUSTED: Final = "reverse_proxy_not_trusted_moved"
MOVED_HOP: Final = "outer_hop_not_trusted_moved"
HOPS_UNDECIDED: Final = "where Home Assistant settles in the forwarded chain cannot be told"
FIRST_ENTRY_NOT_CHECKER: Final = (
    "Home Assistant settles on the first address of the check's chain, which is not this host's "
    "own: a router on this host's way, or a sender in front of the proxy that adds nothing "
    "(whether other clients pass it cannot be told)"
)
# The causes of banned when the address banned is not the proxy's own: a hop in front of it,
# this host's own address (HA sees through the path: only this host is locked out), or another
# address the check's requests entered the path from (a router, or a sender that adds nothing).
BANNED_IN_FRONT: Final = "proxy_banned_in_front"
BANNED_CLIENT: Final = "proxy_banned_client"
BANNED_SENDER: Final = "proxy_banned_sender"
BAD_REQUEST: Final = 400
FORBIDDEN: Final = 403
SERVER_ERROR: Final = 500


class ProxyVerdict(StrEnum):
    """How the path from the public URL to this Home Assistant behaves. A public contract."""

    OK = "ok"
    DIRECT = "direct"
    # No longer found by a check (it runs only where the URL leads here); restored states keep it.
    NOT_HOME_ASSISTANT = "not_home_assistant"
    SUPPORT_DISABLED = "support_disabled"
    PROXY_NOT_TRUSTED = "proxy_not_trusted"
    FORWARDED_FOR_MISSING = "forwarded_for_missing"
    FORWARDED_PROTO_MISSING = "forwarded_proto_missing"
    HOST_NOT_FORWARDED = "host_not_forwarded"
    CLIENT_IP_SPOOFABLE = "client_ip_spoofable"
    OUTER_HOP_NOT_TRUSTED = "outer_hop_not_trusted"
    WEBSOCKET_BLOCKED = "websocket_blocked"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    BANNED = "banned"
    CLIENT_IP_UNDECIDED = "client_ip_undecided"
    INCONCLUSIVE = "inconclusive"


# Most severe first: the sensor shows the first of these that a check found.
SEVERITY_ORDER: Final = (
    ProxyVerdict.BANNED,
    ProxyVerdict.SUPPORT_DISABLED,
    ProxyVerdict.PROXY_NOT_TRUSTED,
    ProxyVerdict.UPSTREAM_UNREACHABLE,
    ProxyVerdict.CLIENT_IP_SPOOFABLE,
    ProxyVerdict.WEBSOCKET_BLOCKED,
    ProxyVerdict.OUTER_HOP_NOT_TRUSTED,
    ProxyVerdict.FORWARDED_FOR_MISSING,
    ProxyVerdict.FORWARDED_PROTO_MISSING,
    ProxyVerdict.HOST_NOT_FORWARDED,
    ProxyVerdict.CLIENT_IP_UNDECIDED,
)
# Verdicts that are a problem of the path (each its own repair, except an undecided one).
PROBLEMS: Final = frozenset(SEVERITY_ORDER) - {ProxyVerdict.CLIENT_IP_UNDECIDED}
# What the plain request decides once it reached the self-probe view (past HA's ban check).
PLAIN_SUB_CHECKS: Final = frozenset(
    {
        ProxyVerdict.BANNED,
        ProxyVerdict.SUPPORT_DISABLED,
        ProxyVerdict.PROXY_NOT_TRUSTED,
        ProxyVerdict.UPSTREAM_UNREACHABLE,
        ProxyVerdict.FORWARDED_FOR_MISSING,
        ProxyVerdict.FORWARDED_PROTO_MISSING,
        ProxyVerdict.HOST_NOT_FORWARDED,
    }
)
REFUSAL_SUB_CHECKS: Final = frozenset(
    {
        ProxyVerdict.SUPPORT_DISABLED,
        ProxyVerdict.PROXY_NOT_TRUSTED,
        ProxyVerdict.UPSTREAM_UNREACHABLE,
    }
)


class RefusalReason(StrEnum):
    """Why HA's forwarded middleware refused a request (and answered 400)."""

    SUPPORT_DISABLED = "support_disabled"
    PROXY_NOT_TRUSTED = "proxy_not_trusted"


@dataclass(frozen=True, slots=True)
class Observation:
    """One request as Home Assistant saw it, after its forwarded middleware."""

    peer: str | None
    remote: str | None
    scheme: str
    host: str
    forwarded_for: str | None
    forwarded_proto: str | None
    forwarded_host: str | None

    @classmethod
    def of(cls, request: web.Request) -> Observation:
        """Read a request; the raw headers are joined as a proxy chain would have them."""
        peer = request.transport.get_extra_info("peername") if request.transport else None
        # (host, port[, flow, scope]) on TCP; a Unix socket's peer has no address
        peer = peer if isinstance(peer, tuple | list) else None

        def header(name: str) -> str | None:
            values = request.headers.getall(name, [])
            return ", ".join(values) if values else None

        return cls(
            peer=str(peer[0]) if peer else None,
            remote=request.remote,
            scheme=request.scheme,
            host=request.host,
            forwarded_for=header(hdrs.X_FORWARDED_FOR),
            forwarded_proto=header(hdrs.X_FORWARDED_PROTO),
            forwarded_host=header(hdrs.X_FORWARDED_HOST),
        )


@dataclass(frozen=True, slots=True)
class ForwardedRefusal:
    """HA's forwarded middleware refused a request from a proxy (and answered 400).

    `proxy_address` is the peer HA refused; it is proven only for the refusal of a check's own
    request (see SelfProbe).
    """

    at: float
    reason: RefusalReason
    proxy_address: str


@dataclass(frozen=True, slots=True)
class ProxyFinding:
    """One failing sub-check and the values its repair text names (a range, a port, ...)."""

    verdict: ProxyVerdict
    detail: str
    placeholders: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The repair text, when a verdict has more than one cause (each with its own fix).
    cause: str = ""


@dataclass(frozen=True, slots=True)
class ProxyReport:
    """Every finding of one check, the most severe as `verdict`, and what HA received.

    `judged` holds the problem verdicts this check decided (found or not); None means all of
    them for a decisive verdict (ok, direct, a problem) and none otherwise.
    """

    verdict: ProxyVerdict
    detail: str
    proxy_address: str | None = None
    observation: Observation | None = None
    findings: tuple[ProxyFinding, ...] = ()
    judged: frozenset[ProxyVerdict] | None = None
    notes: tuple[str, ...] = ()
    forged: Observation | None = None
    # The checker's own address on its connection, when known.
    egress: str | None = None

    @property
    def judged_verdicts(self) -> frozenset[ProxyVerdict]:
        """The problem verdicts this check can confirm or clear."""
        if self.judged is not None:
            return self.judged
        undecisive = {
            ProxyVerdict.NOT_HOME_ASSISTANT,
            ProxyVerdict.INCONCLUSIVE,
            ProxyVerdict.CLIENT_IP_UNDECIDED,
        }
        return frozenset() if self.verdict in undecisive else PROBLEMS

    def as_dict(self) -> dict[str, Any]:
        """Return the report for diagnostics: plain JSON values."""
        return {
            "verdict": self.verdict.value,
            "detail": self.detail,
            "proxy_address": self.proxy_address,
            "observation": asdict(self.observation) if self.observation else None,
            "forged": asdict(self.forged) if self.forged else None,
            "findings": [
                {"verdict": finding.verdict.value, "detail": finding.detail}
                for finding in self.findings
            ],
            "judged": sorted(verdict.value for verdict in self.judged_verdicts),
            "notes": list(self.notes),
        }


class SettledOn(StrEnum):
    """Where on the check's own path the client address Home Assistant settled on lies."""

    PROXY = "proxy"  # the proxy itself: HA does not see past it (it sent no X-Forwarded-For)
    HOP = "hop"  # a hop in front of the proxy: HA's trust stops there
    CHECK = "check"  # the check as the outermost hop saw it: HA sees through the whole path


def settled_on(observation: Observation) -> SettledOn | None:
    """Tell where HA's client address for a check's own request lies; None when it cannot be told.

    The check sends no X-Forwarded-For: every address in the chain was appended by a hop of its
    own path, the first being the check as the outermost hop saw it.
    """
    remote = _address(observation.remote or "")
    if remote is None:
        return None
    if observation.forwarded_for is None:
        return SettledOn.PROXY if remote == _address(observation.peer or "") else None
    hops = addresses_of(observation.forwarded_for)
    if remote in hops[1:]:
        return SettledOn.HOP  # also when the check leaves from that address: all look like it
    return SettledOn.CHECK if hops and remote == hops[0] else None


@dataclass(frozen=True, slots=True)
class ProvenPath:
    """What the check's own request proved about a path that got through, and since when.

    The proxy's address (the peer HA saw), the client address HA settled on, and the hops in
    front of the proxy (the chain's later entries).
    """

    proxy_address: str
    remote: str | None
    seen_at: datetime
    hops: tuple[str, ...] = ()
    # Where `remote` lies on the path; None when unknown (an unreadable chain, or not stored).
    settled_on: SettledOn | None = None
    # This host's own address on the proving check's connection; None when unknown.
    egress: str | None = None

    @classmethod
    def of(cls, report: ProxyReport, now: datetime) -> ProvenPath | None:
        """Return what a check whose request got through proved; None for any other check.

        A refused request proves the proxy's new address, but what later checks compare with is
        the path that last got through: the address trusted_proxies was made for.
        """
        observation = report.observation
        if observation is None or is_direct(observation) or observation.peer is None:
            return None
        hops = tuple(str(hop) for hop in addresses_of(observation.forwarded_for)[1:])
        return cls(
            observation.peer,
            observation.remote,
            now,
            hops,
            settled_on(observation),
            _stored_address(report.egress),
        )

    def same_path(self, other: ProvenPath) -> bool:
        """Whether two checks proved the same path, whenever they ran."""
        return replace(self, seen_at=other.seen_at) == other

    def stored(self) -> dict[str, Any]:
        """Plain JSON for the store."""
        return {
            "proxy_address": self.proxy_address,
            "remote": self.remote,
            "hops": list(self.hops),
            "seen_at": self.seen_at.isoformat(),
            "settled_on": None if self.settled_on is None else self.settled_on.value,
            "egress": self.egress,
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> ProvenPath | None:
        """Read what was stored; None when it does not hold addresses and a moment."""
        seen_at = aware_moment(stored.get("seen_at"))
        proxy_address = _stored_address(stored.get("proxy_address"))
        hops = stored.get("hops", [])
        settled = stored.get("settled_on")
        if seen_at is None or proxy_address is None or not isinstance(hops, list):
            return None
        read = [_stored_address(hop) for hop in hops[:MAX_HOPS]]
        return cls(
            proxy_address,
            _stored_address(stored.get("remote")),
            seen_at,
            tuple(hop for hop in read if hop is not None),
            SettledOn(settled) if settled in tuple(SettledOn) else None,
            _stored_address(stored.get("egress")),
        )


def _stored_address(value: object) -> str | None:
    parsed = _address(value) if isinstance(value, str) else None
    return None if parsed is None else str(parsed)


def aware_moment(value: object) -> datetime | None:
    """Read an ISO moment that names its time zone; None for anything else."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def host_header(target: Target) -> str:
    """Return the Host header a browser sends for the target."""
    name = target.expected_name
    name = f"[{name}]" if ":" in name else name
    return name if target.port == DEFAULT_PORT else f"{name}:{target.port}"


def host_name(host: str) -> str | None:
    """Return the lowercased name of a Host value: `name` or `[IPv6]`, with an optional `:port`.

    None for anything else: a received value is never taken for the target's name because a
    parser dropped part of it (userinfo, a path, a tab) or folded a character (Kelvin sign to k).
    """
    if not host.isascii():
        return None
    if host.startswith("["):
        name, bracket, port = host[1:].partition("]")
        if not bracket or ":" not in name:
            return None
    else:
        name, colon, port = host.partition(":")
        port = colon + port
    return name.lower() if _PORT.fullmatch(port) else None


def shown(value: str) -> str:
    """Make a received value fit for a repair's Markdown: no userinfo, host characters, short."""
    value = value.rpartition("@")[2]
    cut = len(value) > MAX_SHOWN_HOST
    value = _NOT_SHOWN.sub("?", value[:MAX_SHOWN_HOST])
    return f"{value}..." if cut else value


def plain_findings(observation: Observation, target: Target) -> tuple[ProxyFinding, ...]:
    """Judge the headers of a plain request; empty when HA serves TLS itself or all is right."""
    if observation.forwarded_for is None and observation.scheme == "https":
        return ()
    found: list[ProxyFinding] = []
    if observation.forwarded_for is None:
        found.append(
            ProxyFinding(
                ProxyVerdict.FORWARDED_FOR_MISSING,
                f"a proxy at {observation.peer} terminates TLS but sends no X-Forwarded-For",
            )
        )
    if observation.forwarded_proto is None:
        found.append(ProxyFinding(ProxyVerdict.FORWARDED_PROTO_MISSING, NO_PROTO))
    if host_name(observation.host) != target.expected_name.lower():
        seen = f"Home Assistant sees the host {shown(observation.host)}"
        found.append(
            ProxyFinding(
                ProxyVerdict.HOST_NOT_FORWARDED, f"{seen} instead of {host_header(target)}"
            )
        )
    return tuple(found)


def is_direct(observation: Observation) -> bool:
    """Whether the request reached HA without a proxy: HA serves TLS and got no X-Forwarded-For."""
    return observation.forwarded_for is None and observation.scheme == "https"


def judge_observation(
    observation: Observation, target: Target
) -> tuple[ProxyVerdict, str, str | None]:
    """Return the most severe finding of a plain request: verdict, detail, proxy address."""
    if is_direct(observation):
        return ProxyVerdict.DIRECT, "Home Assistant serves TLS itself", None
    found = plain_findings(observation, target)
    first = most_severe(found)
    if first is None:
        return ProxyVerdict.OK, FORWARDS_ALL, observation.peer
    return first.verdict, first.detail, observation.peer


def most_severe(found: Iterable[ProxyFinding]) -> ProxyFinding | None:
    """Return the finding the sensor shows."""
    ranked = sorted(found, key=lambda finding: SEVERITY_ORDER.index(finding.verdict))
    return ranked[0] if ranked else None


def is_spoofed(observation: Observation) -> bool:
    """Whether HA took the made-up X-Forwarded-For of a request for the client's address."""
    return observation.remote == SPOOFED_CLIENT


def _address(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def chain_of(forwarded_for: str) -> list[IPv4Address | IPv6Address | None] | None:
    """Parse an X-Forwarded-For chain, left to right; None when it is too long."""
    hops = forwarded_for.split(",", MAX_HOPS)
    if len(hops) > MAX_HOPS:
        return None
    return [_address(hop) for hop in hops]


def settled_index(chain: Sequence[IPv4Address | IPv6Address], trusted: Sequence[Network]) -> int:
    """Return where in a chain (left to right) HA settles: as its forwarded middleware walks it.

    From the right, every trusted address is skipped; the first untrusted one is the client.
    When all are trusted, the leftmost is.
    """
    for index in range(len(chain) - 1, -1, -1):
        if not networks_holding(chain[index], trusted):
            return index
    return 0


def addresses_of(forwarded_for: str | None) -> list[IPv4Address | IPv6Address]:
    """Parse a chain whose every entry is an address; empty when any is not (or too long)."""
    chain = chain_of(forwarded_for) if forwarded_for is not None else None
    if not chain or None in chain:
        return []
    return [hop for hop in chain if hop is not None]


def passes_through_at(plain: Observation, forged: Observation | None, hop: int) -> bool:
    """Whether the hop at a position of the plain chain passes a client's value on unchanged.

    Every hop appending gives the forged chain `made-up, <plain chain>`; the hop whose address
    the plain chain holds at `hop` passing the value it got through (after the hops before it
    did the same) gives `made-up, <plain chain from that position>`.
    """
    plain_chain = addresses_of(plain.forwarded_for)
    forged_chain = addresses_of(forged.forwarded_for) if forged is not None else []
    made_up = ip_address(SPOOFED_CLIENT)
    return 0 < hop < len(plain_chain) and forged_chain == [made_up, *plain_chain[hop:]]


def networks_holding(
    address: IPv4Address | IPv6Address, trusted: Sequence[Network]
) -> list[Network]:
    """Return the trusted_proxies entries that contain an address."""
    return [network for network in trusted if address in network]


@dataclass(frozen=True, slots=True)
class SpoofJudgement:
    """Whether a real client outside trusted_proxies can choose its address.

    `spoofable` is None when the check cannot tell (then `detail` says why, for diagnostics).
    """

    spoofable: bool | None
    detail: str
    networks: str = ""
    passes_through: bool = False
    chain: str = ""  # the forged request's X-Forwarded-For as HA received it, parsed
    hop: str = ""  # the hop in front of the proxy that passes it through, when not the proxy


def judge_spoofing(
    plain: Observation,
    forged: Observation | None,
    forged_status: int | None,
    trusted: Sequence[Network],
    *,
    egress: str | None = None,
) -> SpoofJudgement | None:
    """Judge the request sent with `X-Forwarded-For: SPOOFED_CLIENT`; None when it got no answer.

    HA walks the received chain from the right and stops at the first address it does not
    trust. A proxy that appends the peer it saw puts the client's own address after the forged
    one, so a forged value is believed only for clients whose own address is trusted: when that
    is only the checker's (because it shares the proxy's address), an outside client is not
    fooled. A proxy that passes the client's value through lets anyone choose; so does a trusted
    address in front of the first appending proxy that adds nothing (a hop passing it through,
    or a router): the check's own request came through it (it is in the plain chain) and it is
    not the checker's own address (`egress`).
    """
    if forged is None:
        if forged_status == BAD_REQUEST:
            return SpoofJudgement(
                spoofable=False, detail="Home Assistant refuses a client-sent X-Forwarded-For"
            )
        return None
    if not is_spoofed(forged):
        return SpoofJudgement(
            spoofable=False, detail="Home Assistant ignores a client-sent X-Forwarded-For"
        )
    chain = chain_of(forged.forwarded_for or "")
    spoofed = ip_address(SPOOFED_CLIENT)
    if chain is None or not chain or chain[0] != spoofed or None in chain:
        return SpoofJudgement(
            spoofable=None,
            detail="Home Assistant took the made-up client from an X-Forwarded-For not read here",
        )
    hops = [hop for hop in chain if hop is not None]
    return _judge_believed(hops, plain, forged, trusted, _unmapped(egress))


def _judge_believed(
    hops: list[IPv4Address | IPv6Address],
    plain: Observation,
    forged: Observation,
    trusted: Sequence[Network],
    egress: IPv4Address | IPv6Address | None,
) -> SpoofJudgement:
    """Judge a believed chain `forged, ...`: who passed it on, or who appended what."""
    received = ", ".join(str(hop) for hop in hops)
    if len(hops) == 1:
        return SpoofJudgement(
            spoofable=True,
            detail="the proxy passes the client's X-Forwarded-For through instead of appending "
            "the address it received the request from",
            passes_through=True,
            chain=received,
        )
    path = addresses_of(plain.forwarded_for)
    if egress is not None and hops[1] in path and hops[1] != egress:
        return SpoofJudgement(
            spoofable=True,
            detail=f"{hops[1]}, in front of the first proxy that appends, passes the client's "
            "X-Forwarded-For on and trusted_proxies trusts it",
            passes_through=True,
            chain=received,
            hop=str(hops[1]),
        )
    # The hops the check's own request went through are proxies, not clients.
    proxies = {
        address for peer in (plain.peer, forged.peer) if peer and (address := _address(peer))
    } | set(path[1:])
    return _judge_appended(hops, proxies, trusted)


def _judge_appended(
    chain: list[IPv4Address | IPv6Address],
    proxies: set[IPv4Address | IPv6Address],
    trusted: Sequence[Network],
) -> SpoofJudgement:
    """Judge a believed chain `forged, first hop, ...`: the proxies appended what they saw."""
    received = ", ".join(str(hop) for hop in chain)
    first_hop = chain[1]
    proxies = proxies | set(chain[2:])
    holding = networks_holding(first_hop, trusted)
    named = ", ".join(str(network) for network in holding)
    if first_hop not in proxies:
        return SpoofJudgement(
            spoofable=True,
            detail=f"the proxy received this check from {first_hop}, which trusted_proxies "
            f"trusts ({named or 'an entry'}): every client there can choose its address",
            networks=named or str(first_hop),
            chain=received,
        )
    if holding and all(network.num_addresses == 1 for network in holding):
        return SpoofJudgement(
            spoofable=False,
            detail=f"only the proxy's own address {first_hop} is trusted; the proxy appends the "
            "address of every client",
        )
    return SpoofJudgement(
        spoofable=None,
        detail=f"this check reaches the proxy from {first_hop}, the proxy's own address, which "
        f"trusted_proxies trusts as part of {named or 'a wider entry'}: whether other clients "
        "come from that range cannot be told from here",
        networks=named,
        chain=received,
    )


def judge_hops(plain: Observation, trusted: Sequence[Network]) -> tuple[bool, ProxyFinding | None]:
    """Whether HA settled, for the check's own request, on a hop of its path instead of the client.

    The check sends no X-Forwarded-For, so every address in the chain that arrived was appended by
    a hop of its own path: the first is the checker as the outermost hop saw it, each later one
    the hop before the one that appended it. When HA stops on a later one, it takes that hop for
    every client coming this way. When it settles on the first entry it sees as far as any hop
    can tell (that entry may be a router on the checker's own way, which other clients do not
    pass). Returns whether it could be told (a readable chain, and HA settled where its own rule
    leads), and the finding.
    """
    if plain.forwarded_for is None:
        return True, None  # no chain: the proxy sends none (forwarded_for_missing says so)
    hops = addresses_of(plain.forwarded_for)
    if not hops:
        return False, None
    stop = settled_index(hops, trusted)
    if str(hops[stop]) != plain.remote:
        return False, None
    if stop == 0:
        return True, None
    hop = str(hops[stop])
    detail = (
        f"Home Assistant takes {hop}, a hop in front of the proxy, for the client of every request "
        f"(the hop before it: {hops[stop - 1]})"
    )
    return True, ProxyFinding(
        ProxyVerdict.OUTER_HOP_NOT_TRUSTED,
        detail,
        {"hop": hop, "previous_hop": str(hops[stop - 1]), "hop_entry": exact_entry(hop)},
    )


def exact_entry(address: str) -> str:
    """Return the trusted_proxies entry that trusts exactly one address."""
    return f"{address}/{128 if ':' in address else 32}" if address else ""


def with_moves(
    report: ProxyReport, proven: ProvenPath | None, trusted: Sequence[Network]
) -> ProxyReport:
    """Say where a proxy or hop that is not trusted was proven before at a trusted address.

    Containers get new addresses when they restart: the single address trusted_proxies names
    then no longer matches. Only an address an earlier check's own request proved is named.
    """
    if proven is None:
        return report
    findings = [_moved(finding, report, proven, trusted) for finding in report.findings]
    return replace(report, findings=tuple(findings))


def _moved(
    finding: ProxyFinding, report: ProxyReport, proven: ProvenPath, trusted: Sequence[Network]
) -> ProxyFinding:
    earlier: tuple[str, ...]
    if finding.verdict is ProxyVerdict.PROXY_NOT_TRUSTED:
        current, earlier, cause = report.proxy_address, (proven.proxy_address,), MOVED_NOT_TRUSTED
    elif finding.verdict is ProxyVerdict.OUTER_HOP_NOT_TRUSTED and not finding.cause:
        current, cause = finding.placeholders.get("hop"), MOVED_HOP
        earlier = _same_hop_before(report.observation, proven, trusted)
    else:
        return finding
    for old in earlier:
        parsed = _address(old)
        if old != current and parsed is not None and networks_holding(parsed, trusted):
            placeholders = {**finding.placeholders, "previous_address": old}
            return replace(finding, cause=cause, placeholders=placeholders)
    return finding


def _same_hop_before(
    observation: Observation | None, proven: ProvenPath, trusted: Sequence[Network]
) -> tuple[str, ...]:
    """Return the address proven earlier for the hop HA stops at now: as far from the proxy.

    An address still in the chain is a hop still in use, not the one that moved.
    """
    chain = addresses_of(observation.forwarded_for) if observation is not None else []
    if not chain:
        return ()
    distance = len(chain) - settled_index(chain, trusted)
    if not 0 < distance <= len(proven.hops):
        return ()
    old = proven.hops[-distance]
    return () if _address(old) in chain else (old,)


# The text of a ban by where the banned address lies: the proxy's own has the default text.
BANNED_CAUSES: Final = {
    SettledOn.PROXY: "",
    SettledOn.HOP: BANNED_IN_FRONT,
    SettledOn.CHECK: BANNED_CLIENT,
}


@dataclass(frozen=True, slots=True)
class BanList:
    """Home Assistant's ban list when a check was answered 403, as far as it concerns the path.

    `size` is how many addresses it holds (none when HA bans no one). `banned_at` (in HA's time
    zone) is set when the client address HA settled on for an earlier check's own request
    (`proven.remote`) is banned. `egress`: this machine's own address towards the endpoint.
    """

    size: int
    proven: ProvenPath | None = None
    banned_at: datetime | None = None
    egress: str | None = None


def judge_forbidden(bans: BanList | None) -> ProxyReport:
    """Judge a 403 to the plain request: HA's ban of this path only when the ban list proves it.

    HA's ban middleware answers 403 before any view and logs nothing, so the request itself
    cannot be tied to it. What proves the ban is the address an earlier check's own request came
    from, as HA settled on it, being in HA's ban list: every request arriving as that address
    gets 403. Any other 403 (a proxy's access rule, a ban of another address) names nobody.
    `bans` is None when the ban list could not be read.
    """
    if bans is None:
        return _forbidden("Home Assistant's ban list could not be read", banned_judged=False)
    proven = bans.proven
    holds = f"Home Assistant's ban list holds {_addresses(bans.size)}"
    if proven is None or proven.remote is None:
        reason = "no earlier check's own request proved which address Home Assistant takes for it"
        return _forbidden(f"{holds}, none proven to be this path's ({reason})", banned_judged=False)
    if bans.banned_at is None:
        reason = "the address an earlier check's own request proved is not banned"
        return _forbidden(f"{holds}, none proven to be this path's ({reason})", banned_judged=True)
    cause = None if proven.settled_on is None else BANNED_CAUSES[proven.settled_on]
    if cause == BANNED_CLIENT and _unmapped(proven.remote) not in {
        _unmapped(proven.egress),
        _unmapped(bans.egress),
    }:
        # Not this host's own address: something on the way adds no X-Forwarded-For. Told only
        # against this host's address when the proof was made (it may have another one now).
        cause = BANNED_SENDER if proven.egress is not None else None
    if cause is None:
        reason = "where on the path it lies is not known"
        why = f"{holds}, among them the address an earlier check's own request proved ({reason})"
        return _forbidden(why, banned_judged=False)
    proxy, banned_ip = proven.proxy_address, _address(proven.remote)
    banned = str(banned_ip) if banned_ip is not None else proven.remote
    at = f"{bans.banned_at:%Y-%m-%d %H:%M %Z}".rstrip()
    detail = (
        f"Home Assistant banned {banned} on {at}: it is the address Home Assistant took for this "
        f"check's own requests through the proxy at {proxy} ({proven.settled_on}), and it answers "
        "403 to every request arriving as that address"
    )
    finding = ProxyFinding(
        ProxyVerdict.BANNED,
        detail,
        {"banned_address": banned, "banned_at": at},
        cause=cause,
    )
    return ProxyReport(
        ProxyVerdict.BANNED,
        detail,
        proxy,
        findings=(finding,),
        judged=frozenset({ProxyVerdict.BANNED}),
    )


def _addresses(count: int) -> str:
    return f"{count} address" if count == 1 else f"{count} addresses"


def _forbidden(why: str, *, banned_judged: bool) -> ProxyReport:
    """Report a 403 that proves no ban of the path; judge the ban only when `why` disproves it."""
    return ProxyReport(
        ProxyVerdict.INCONCLUSIVE,
        "the check could not reach Home Assistant through the URL (it answered 403)",
        judged=frozenset({ProxyVerdict.BANNED}) if banned_judged else frozenset(),
        notes=(f"the request for this check's nonce answered 403; {why}",),
    )


def judge_no_view(
    status: int | None,
    refusal: ForwardedRefusal | None,
    *,
    upstream: tuple[str, int] | None = None,
    bans: BanList | None = None,
) -> ProxyReport:
    """Judge a plain request that never reached the self-probe view.

    The endpoint leads to this HA (it is HA's own URL or the user says so), so a 5xx is the proxy
    failing to reach HA. `refusal`: HA's refusal of this very request, which proves the address
    the proxy connects from. `upstream`: the scheme and port HA listens with, for the repair text.
    `bans`: HA's ban list, read for a 403 (see judge_forbidden).
    """
    if refusal is None and status == FORBIDDEN:
        return judge_forbidden(bans)
    if refusal is not None:
        verdict = ProxyVerdict(refusal.reason)
        if verdict is ProxyVerdict.SUPPORT_DISABLED:
            detail = (
                f"the proxy at {refusal.proxy_address} sends X-Forwarded-For, but reverse "
                "proxy support is off in Home Assistant: it answers 400 Bad Request"
            )
        else:
            detail = (
                f"the proxy at {refusal.proxy_address} is not in trusted_proxies: "
                "Home Assistant answers 400 Bad Request"
            )
        finding = ProxyFinding(verdict, detail)
        return ProxyReport(
            verdict, detail, refusal.proxy_address, findings=(finding,), judged=REFUSAL_SUB_CHECKS
        )
    answered = f"answered {status}" if status is not None else "did not answer"
    if status is not None and status >= SERVER_ERROR:
        scheme, port = upstream or ("http", 8123)
        detail = (
            f"the proxy answered {status}: it cannot reach Home Assistant, which listens "
            f"for {scheme} on port {port}"
        )
        finding = ProxyFinding(
            ProxyVerdict.UPSTREAM_UNREACHABLE,
            detail,
            {"status": str(status), "scheme": scheme, "port": str(port)},
        )
        return ProxyReport(
            ProxyVerdict.UPSTREAM_UNREACHABLE,
            detail,
            findings=(finding,),
            judged=frozenset({ProxyVerdict.UPSTREAM_UNREACHABLE}),
        )
    return ProxyReport(
        ProxyVerdict.INCONCLUSIVE,
        f"the check could not reach Home Assistant through the URL (it {answered})",
        judged=frozenset(),
        notes=(f"the request for this check's nonce {answered} without reaching Home Assistant",),
    )


@dataclass(slots=True)
class SubChecks:
    """What the sub-checks of a check that reached the view found, to be made a report."""

    plain: Observation
    findings: list[ProxyFinding] = field(default_factory=list)
    judged: set[ProxyVerdict] = field(default_factory=lambda: set(PLAIN_SUB_CHECKS))
    notes: list[str] = field(default_factory=list)
    forged: Observation | None = None
    # The checker's own address on its connection, when known.
    egress: str | None = None

    def spoofing(self, judgement: SpoofJudgement | None) -> None:
        """Add the forged request's judgement."""
        if judgement is None:
            self.notes.append("the request with a made-up X-Forwarded-For got no answer")
            return
        if judgement.spoofable is None:
            self.notes.append(UNDECIDED_NOTE)
            self.findings.append(
                ProxyFinding(
                    ProxyVerdict.CLIENT_IP_UNDECIDED,
                    judgement.detail,
                    {"networks": judgement.networks},
                )
            )
            return
        self.judged.add(ProxyVerdict.CLIENT_IP_SPOOFABLE)
        if judgement.spoofable:
            cause = SPOOFABLE_OUTER if judgement.hop else ""
            self.findings.append(
                ProxyFinding(
                    ProxyVerdict.CLIENT_IP_SPOOFABLE,
                    judgement.detail,
                    {
                        "networks": judgement.networks,
                        "chain": judgement.chain,
                        "hop": judgement.hop,
                    },
                    cause=cause if judgement.passes_through else SPOOFABLE_RANGE,
                )
            )
        if judgement.passes_through:
            # Clients that send the header are not seen as the proxy: that text would be wrong.
            self.findings = [
                finding
                for finding in self.findings
                if finding.verdict is not ProxyVerdict.FORWARDED_FOR_MISSING
            ]

    def hops(self, trusted: Sequence[Network]) -> None:
        """Add whether HA settles on a hop in front of the proxy instead of the client.

        Trusting that hop is the fix only when it appends: one that passes the client's value
        through (the forged request shows it) must be made to append first.
        """
        decided, found = judge_hops(self.plain, trusted)
        if not decided:
            self.notes.append(HOPS_UNDECIDED)
            return
        self.judged.add(ProxyVerdict.OUTER_HOP_NOT_TRUSTED)
        hops = addresses_of(self.plain.forwarded_for)
        if found is None:
            if hops and str(hops[0]) == self.plain.remote and hops[0] != _unmapped(self.egress):
                self.notes.append(FIRST_ENTRY_NOT_CHECKER)
        else:
            # where HA stopped: the same address may stand earlier in the chain too
            passing = passes_through_at(self.plain, self.forged, settled_index(hops, trusted))
            self.findings.append(replace(found, cause=HOP_PASSES_THROUGH) if passing else found)

    def websocket(self, *, works: bool | None) -> None:
        """Add the WebSocket upgrade's outcome; None when it could not be told."""
        if works is None:
            self.notes.append("the WebSocket upgrade got no answer")
            return
        self.judged.add(ProxyVerdict.WEBSOCKET_BLOCKED)
        if not works:
            self.findings.append(ProxyFinding(ProxyVerdict.WEBSOCKET_BLOCKED, NO_WEBSOCKET))

    def report(self) -> ProxyReport:
        """Return the report: every finding, the most severe as the verdict."""
        first = most_severe(self.findings)
        verdict, detail = (
            (first.verdict, first.detail) if first else (ProxyVerdict.OK, FORWARDS_ALL)
        )
        return ProxyReport(
            verdict,
            detail,
            self.plain.peer,
            self.plain,
            findings=tuple(self.findings),
            judged=frozenset(self.judged),
            notes=tuple(self.notes),
            forged=self.forged,
            egress=self.egress,
        )


def direct_report(observation: Observation) -> ProxyReport:
    """HA serves TLS itself: no proxy to judge, none of the proxy problems applies."""
    return ProxyReport(ProxyVerdict.DIRECT, "Home Assistant serves TLS itself", None, observation)


# Refusals of real traffic from one private address before a repair names it.
REPEATED_REFUSALS: Final = 3
# Seconds between two updates of an open traffic repair's counts.
TRAFFIC_UPDATE_EVERY: Final = 600.0
# Private addresses counted one by one; more are counted in the total only.
KEPT_ADDRESSES: Final = 64
# Where a proxy in a home network connects from: private, shared (CGNAT, VPN overlays),
# loopback and link-local ranges. Documentation and other reserved ranges are not among them.
LOCAL_NETWORKS: Final = tuple(
    ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def is_local(address: IPv4Address | IPv6Address) -> bool:
    """Whether an address belongs to a home or container network rather than the internet."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in LOCAL_NETWORKS)


def _unmapped(address: str | None) -> IPv4Address | IPv6Address | None:
    """Parse an address, an IPv4-mapped IPv6 one as the IPv4 address it is."""
    parsed = _address(address or "")
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def is_public(address: str | None) -> bool:
    """Whether a proxy address is a global one: trusting it would trust an internet host."""
    parsed = _unmapped(address)
    return parsed is not None and parsed.is_global


@dataclass(slots=True)
class RefusalTally:
    """Refusals of other traffic for one reason: none came from a check, none is named.

    Public addresses are only counted. Once one local address is refused again and again, the
    repair is raised with the counts alone; counts are written back rate limited. Which address
    repeated is kept here only to tell when a check proves that very proxy to pass.
    """

    public: int = 0
    private: int = 0
    per_address: dict[str, int] = field(default_factory=dict)
    repeating: str | None = None
    written_at: float | None = None

    def add(self, address: str, now: float) -> bool:
        """Count a refusal; True when the repair is to be raised or its counts written now."""
        parsed = _address(address)
        if parsed is None or not is_local(parsed):
            self.public += 1
            return False
        self.private += 1
        seen = str(parsed)
        if seen in self.per_address or len(self.per_address) < KEPT_ADDRESSES:
            self.per_address[seen] = self.per_address.get(seen, 0) + 1
        if self.repeating is None:
            if self.per_address.get(seen, 0) < REPEATED_REFUSALS:
                return False
            self.repeating = seen
        if self.written_at is not None and now - self.written_at < TRAFFIC_UPDATE_EVERY:
            return False
        self.written_at = now
        return True

    def placeholders(self) -> dict[str, str]:
        """Return what the repair shows: counts only, never an address."""
        return {
            "count": str(self.private),
            "sources": str(len(self.per_address)),
            "public": str(self.public),
        }

    def as_dict(self) -> dict[str, int]:
        """Return the counts for diagnostics (no address)."""
        return {
            "public": self.public,
            "private": self.private,
            "private_addresses": len(self.per_address),
        }
