"""The tracker confirms and clears repairs from consecutive checks, with no registry involved."""

from __future__ import annotations

import pytest

from custom_components.tls_health import catalogue as c
from custom_components.tls_health.tracker import Finding, decide

EXPIRED = Finding(c.CERTIFICATE_EXPIRED)
DOWN = Finding(c.ENDPOINT_UNREACHABLE)
ALL_ENDPOINT = {repair.key for repair in c.ENTRY_REPAIRS}


def test_a_finding_is_confirmed_by_consecutive_checks() -> None:
    first = decide({}, [EXPIRED], ALL_ENDPOINT, ())
    assert first.confirmed == ()
    assert first.pending
    second = decide(first.streaks, [EXPIRED], ALL_ENDPOINT, ())
    assert second.confirmed == (EXPIRED,)
    assert not second.pending


def test_unreachable_needs_three_checks() -> None:
    streaks: dict[str, int] = {}
    confirmed_at = []
    for check in range(1, 5):
        decision = decide(streaks, [DOWN], {DOWN.key}, ())
        streaks = dict(decision.streaks)
        if decision.confirmed:
            confirmed_at.append(check)
    assert confirmed_at == [3, 4]


def test_an_open_repair_is_confirmed_at_once() -> None:
    decision = decide({}, [EXPIRED], ALL_ENDPOINT, {EXPIRED.key})
    assert decision.confirmed == (EXPIRED,)


def test_only_judged_keys_clear_and_reset() -> None:
    seen = decide({}, [EXPIRED], ALL_ENDPOINT, ())
    # The endpoint goes down: its certificate is not judged, so its streak is kept.
    down = decide(seen.streaks, [DOWN], {DOWN.key}, {EXPIRED.key})
    assert EXPIRED.key not in down.cleared
    assert down.streaks[EXPIRED.key] == 1
    back = decide(down.streaks, [], ALL_ENDPOINT, {EXPIRED.key})
    assert {EXPIRED.key, DOWN.key} <= back.cleared
    assert dict(back.streaks) == {}


@pytest.mark.parametrize(("critical", "severity"), [(False, "warning"), (True, "error")])
def test_severity_comes_from_the_catalogue(critical: bool, severity: str) -> None:
    assert Finding(c.CERTIFICATE_EXPIRING_SOON, critical=critical).severity == severity
    assert Finding(c.LEGACY_TLS_ENABLED, critical=critical).severity == "warning"


def test_issue_ids_round_trip() -> None:
    for repair in c.REPAIRS.values():
        issue_id = repair.issue_id("01JENTRY0000000000000000AB")
        assert c.repair_of_issue(issue_id) is repair
