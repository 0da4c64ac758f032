"""Which HTTP settings Home Assistant runs, and what its other settings make of a proven path.

No I/O. Home Assistant keeps its HTTP settings as `stable` (confirmed) and `pending` (saved, not
confirmed yet). A start with pending settings runs them as a trial: unless they are confirmed
("promoted") before a deadline, HA marks them `not_promoted` and restarts on the stable ones.

The check's own request proved the proxy's address and the X-Forwarded-For chain its path
appends; Home Assistant's own rule (its forwarded middleware) tells what other settings would
make of that very request. Nothing else is used: no address is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Final

from .proxy_judgement import (
    Network,
    ProxyReport,
    ProxyVerdict,
    addresses_of,
    aware_moment,
    is_direct,
    networks_holding,
    settled_index,
)

type Address = IPv4Address | IPv6Address

# The slots of HA's http store (`homeassistant.components.http.config`) and its trial's error.
STABLE: Final = "stable"
PENDING: Final = "pending"
NOT_PROMOTED: Final = "not_promoted"
# Text suffixes of proxy repairs: saved settings fix it once applied; settings that fixed it
# were tried and reverted because nobody confirmed them.
SAVED: Final = "_saved"
REVERTED: Final = "_reverted"


class Outcome(StrEnum):
    """What HA's forwarded middleware does with the check's own request under some settings."""

    ACCEPTED = "accepted"
    SUPPORT_DISABLED = "support_disabled"
    PROXY_NOT_TRUSTED = "proxy_not_trusted"
    SETTLES_ON_HOP = "settles_on_hop"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The two HTTP settings that decide what a proxy's request becomes."""

    use_x_forwarded_for: bool
    trusted_proxies: tuple[Network, ...]

    @classmethod
    def read(cls, conf: object) -> ProxySettings | None:
        """Read one slot of HA's store; None when it is not as HA writes it."""
        if not isinstance(conf, Mapping):
            return None
        use = conf.get("use_x_forwarded_for", False)
        entries = conf.get("trusted_proxies") or []
        if not isinstance(use, bool) or not isinstance(entries, list | tuple):
            return None
        try:
            # As HA's server reads them (strict: host bits set are an error there too).
            trusted = tuple(ip_network(entry) for entry in entries if isinstance(entry, str))
        except ValueError:
            return None
        if len(trusted) != len(entries):
            return None
        return cls(use, trusted)

    def outcome(self, proxy: Address, chain: Sequence[Address] = ()) -> Outcome:
        """Judge a request from `proxy` carrying `chain`, as HA's forwarded middleware would.

        Support off or an untrusted peer is a 400; otherwise HA walks the chain from the right
        and settles on the first untrusted entry (the leftmost when all are trusted). The
        check sends no X-Forwarded-For, so settling anywhere but on its first entry is settling
        on a hop of its own path.
        """
        if not self.use_x_forwarded_for:
            return Outcome.SUPPORT_DISABLED
        if not networks_holding(proxy, self.trusted_proxies):
            return Outcome.PROXY_NOT_TRUSTED
        if chain and settled_index(chain, self.trusted_proxies) > 0:
            return Outcome.SETTLES_ON_HOP
        return Outcome.ACCEPTED

    def entries_holding(self, address: str) -> str:
        """Return the trusted_proxies entries that hold an address, as a text names them."""
        parsed = _parsed(address)
        held = networks_holding(parsed, self.trusted_proxies) if parsed is not None else []
        return ", ".join(str(network) for network in held)

    def hop(self, chain: Sequence[Address]) -> tuple[str, str]:
        """Return the hop these settings settle on, and the hop before it."""
        stop = settled_index(chain, self.trusted_proxies)
        return str(chain[stop]), str(chain[stop - 1])


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """HA's HTTP settings as its store holds them: which slot runs, and the trial's state."""

    running: str  # stable, pending, or one of HA's defaults (recovery mode)
    stable: ProxySettings
    pending: ProxySettings | None = None
    pending_error: str | None = None
    saved_at: datetime | None = None  # when the pending settings were saved
    revert_at: datetime | None = None  # when a trial ends unless it is confirmed

    @classmethod
    def read(
        cls, *, running: object, stable: object, pending: object, revert_at: object
    ) -> HttpSettings | None:
        """Read HA's store; None when any part is not as HA writes it."""
        stable_settings = ProxySettings.read(stable)
        pending_settings = ProxySettings.read(pending) if pending is not None else None
        if (
            not isinstance(running, str)
            or stable_settings is None
            or (pending is not None and pending_settings is None)
            or not (revert_at is None or _aware(revert_at))
        ):
            return None
        error = pending.get("error") if isinstance(pending, Mapping) else None
        saved = pending.get("created_at") if isinstance(pending, Mapping) else None
        return cls(
            running=str(running),
            stable=stable_settings,
            pending=pending_settings,
            pending_error=error if isinstance(error, str) else None,
            saved_at=aware_moment(saved),
            revert_at=revert_at if isinstance(revert_at, datetime) else None,
        )

    @property
    def on_trial(self) -> bool:
        """Whether HA runs saved settings on trial, reverted at `revert_at` unless confirmed."""
        return (
            self.running == PENDING
            and self.pending is not None
            and self.pending_error is None
            and self.revert_at is not None
        )

    @property
    def saved(self) -> ProxySettings | None:
        """Settings saved while HA runs its stable ones: they apply at the next start."""
        if self.running == STABLE and self.pending_error is None:
            return self.pending
        return None

    @property
    def reverted(self) -> ProxySettings | None:
        """Settings that were tried and reverted because nobody confirmed them in time."""
        if self.running == STABLE and self.pending_error == NOT_PROMOTED:
            return self.pending
        return None


@dataclass(frozen=True, slots=True)
class TrialWarning:
    """The proxy works only thanks to settings on trial: what the stable ones would do."""

    outcome: Outcome  # refused, or settled on a hop
    address: str  # the proxy's address, or the hop HA would settle on
    previous_hop: str = ""


@dataclass(frozen=True, slots=True)
class SettingsJudgement:
    """What HA's saved settings mean for one check's proxy findings.

    `trial_judged`: whether the trial warning can be raised or cleared by this check.
    `texts`: the text suffix of a finding that saved or reverted settings would resolve.
    """

    trial_judged: bool
    trial: TrialWarning | None = None
    texts: Mapping[ProxyVerdict, str] = field(default_factory=dict)


# Findings whose advice is a change of HA's settings, each with the settings' effect that
# resolves it. forwarded_for_missing: only its Home Assistant part (the proxy must still send).
RESOLVED_BY_SETTINGS: Final = frozenset(
    {
        ProxyVerdict.SUPPORT_DISABLED,
        ProxyVerdict.PROXY_NOT_TRUSTED,
        ProxyVerdict.FORWARDED_FOR_MISSING,
        ProxyVerdict.OUTER_HOP_NOT_TRUSTED,
    }
)
# HA's own refusals of the check's request: the settings it runs do not make the proxy work.
REFUSALS: Final = frozenset({ProxyVerdict.SUPPORT_DISABLED, ProxyVerdict.PROXY_NOT_TRUSTED})
# A reverted trial explains a proxy that broke: it worked through the trial, not before.
BROKEN_BY_REVERT: Final = RESOLVED_BY_SETTINGS - {ProxyVerdict.FORWARDED_FOR_MISSING}


def judge_settings(report: ProxyReport | None, settings: HttpSettings) -> SettingsJudgement:
    """Judge a check's report against the settings HA keeps but does not run (or runs on trial).

    `report` is None when no proxy check ran. A trial warning is cleared once no trial runs; it
    is raised only when the check's own request got through with an X-Forwarded-For chain that
    the stable settings would refuse, or settle on a hop of.
    """
    if not settings.on_trial:
        return SettingsJudgement(trial_judged=True, texts=_texts(report, settings))
    if report is None or not (report.observation is not None or report.verdict in REFUSALS):
        return SettingsJudgement(trial_judged=False)  # a ban's 403 shows no forwarded chain
    return SettingsJudgement(trial_judged=True, trial=_trial(report, settings.stable))


def _trial(report: ProxyReport, stable: ProxySettings) -> TrialWarning | None:
    observation = report.observation
    if (
        observation is None  # refused now: the trial does not make it work
        or observation.forwarded_for is None  # no chain: the settings do not matter
        or is_direct(observation)
        or (proxy := _parsed(observation.peer)) is None
    ):
        return None
    chain = addresses_of(observation.forwarded_for)
    after = stable.outcome(proxy, chain)
    if after in (Outcome.SUPPORT_DISABLED, Outcome.PROXY_NOT_TRUSTED):
        return TrialWarning(after, str(proxy))
    found = {finding.verdict for finding in report.findings}
    if (
        after is Outcome.SETTLES_ON_HOP
        and ProxyVerdict.OUTER_HOP_NOT_TRUSTED in report.judged_verdicts
        and ProxyVerdict.OUTER_HOP_NOT_TRUSTED not in found
    ):
        hop, previous = stable.hop(chain)
        return TrialWarning(after, hop, previous)
    return None


def _texts(report: ProxyReport | None, settings: HttpSettings) -> dict[ProxyVerdict, str]:
    """Suffixes for the findings that the saved (or the reverted) settings would resolve."""
    if report is None or (proxy := _parsed(report.proxy_address)) is None:
        return {}
    if (saved := settings.saved) is not None:
        other, suffix, verdicts = saved, SAVED, RESOLVED_BY_SETTINGS
    elif (reverted := settings.reverted) is not None:
        other, suffix, verdicts = reverted, REVERTED, BROKEN_BY_REVERT
    else:
        return {}
    observation = report.observation
    chain = addresses_of(observation.forwarded_for) if observation is not None else []
    return {
        finding.verdict: suffix
        for finding in report.findings
        if finding.verdict in verdicts
        and not finding.cause  # a hop passing clients' values through is fixed at the hop
        and other.outcome(proxy, chain) is Outcome.ACCEPTED
        and (
            finding.verdict is not ProxyVerdict.FORWARDED_FOR_MISSING
            or settings.stable.outcome(proxy) is not Outcome.ACCEPTED
        )
    }


def _parsed(address: str | None) -> Address | None:
    try:
        return ip_address(address) if address else None
    except ValueError:
        return None


def _aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None
