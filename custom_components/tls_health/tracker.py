"""Which findings are confirmed and which repairs clear: pure, no registry, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from homeassistant.helpers.issue_registry import IssueSeverity

from .catalogue import Repair


@dataclass(frozen=True, slots=True)
class Finding:
    """One occurrence of a repair, with the values its text needs."""

    repair: Repair
    placeholders: Mapping[str, str] = field(default_factory=dict, compare=False)
    critical: bool = False
    text: str | None = None  # one of the repair's texts, when not its default

    @property
    def key(self) -> str:
        """The repair's key."""
        return self.repair.key

    @property
    def severity(self) -> IssueSeverity:
        """Severity of this occurrence."""
        return self.repair.severity_of(critical=self.critical)

    @property
    def translation_key(self) -> str:
        """The text it is shown with."""
        return self.text or self.repair.translation_key


@dataclass(frozen=True, slots=True)
class Decision:
    """What one check changes: repairs to write, keys to clear, and the new streaks."""

    confirmed: tuple[Finding, ...]
    cleared: frozenset[str]
    streaks: Mapping[str, int]
    # Some finding was seen but not yet confirmed: check again soon.
    pending: bool


def decide(
    streaks: Mapping[str, int],
    found: Iterable[Finding],
    judged: Iterable[str],
    open_keys: Iterable[str],
) -> Decision:
    """Count consecutive sightings; confirm what enough checks saw, clear what a judge missed.

    A finding whose repair is already open is confirmed at once: a restart or reload does not
    re-confirm what was known. Only keys this check could judge are cleared or reset.
    """
    found = tuple(found)
    seen = {finding.key for finding in found}
    cleared = frozenset(judged) - seen
    opened = set(open_keys)
    counts = {key: count for key, count in streaks.items() if key not in cleared}
    for key in seen:
        counts[key] = counts.get(key, 0) + 1
    confirmed = tuple(
        finding
        for finding in found
        if finding.key in opened or counts[finding.key] >= finding.repair.confirmations
    )
    return Decision(
        confirmed=confirmed,
        cleared=cleared,
        streaks=MappingProxyType(counts),
        pending=len(confirmed) < len(found),
    )
