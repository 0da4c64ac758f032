"""A certificate's lifetime and when a well-behaved ACME client renews it.

ACME clients (Certbot, acme.sh, Caddy, Traefik, ...) renew with about a third of the lifetime
left, whatever the lifetime: 30 days before the end of a 90-day certificate, 2 days before the
end of a 6-day one. A certificate of at most 200 days (the longest a public CA may issue since
March 2026) is judged by that rule; a longer one is renewed by hand and judged by fixed days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

# Longest lifetime judged against the renewal rule (CA/Browser Forum maximum from 2026-03-15).
RENEWAL_AWARE_MAX_LIFETIME: Final = timedelta(days=200)
# Slack after the renewal point for the client's timer and the server's reload to happen;
# a tenth of the lifetime when that is shorter.
RENEWAL_SLACK: Final = timedelta(days=1)
RENEWAL_SLACK_SHARE: Final = 10
RENEWAL_SHARE: Final = 3  # renewed with a third of the lifetime left
CRITICAL_SHARE: Final = 6  # less than a sixth left: close to the end


@dataclass(frozen=True, slots=True)
class Lifetime:
    """The validity period of one certificate."""

    not_before: datetime
    not_after: datetime

    @property
    def length(self) -> timedelta:
        """The whole validity period."""
        return self.not_after - self.not_before

    @property
    def renewal_aware(self) -> bool:
        """Whether it is short enough to be renewed automatically (judged by the renewal rule)."""
        return timedelta(0) < self.length <= RENEWAL_AWARE_MAX_LIFETIME

    @property
    def renewal_point(self) -> datetime:
        """When a client that renews with a third of the lifetime left renews it."""
        return self.not_after - self.length / RENEWAL_SHARE

    @property
    def renew_by(self) -> datetime:
        """The renewal point plus slack: a certificate still served after this was not renewed."""
        return self.renewal_point + min(RENEWAL_SLACK, self.length / RENEWAL_SLACK_SHARE)

    @property
    def critical_from(self) -> datetime:
        """From when on its end is close: a sixth of the lifetime left."""
        return self.not_after - self.length / CRITICAL_SHARE

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (part of the probe's report schema)."""
        return {
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days": round(self.length.total_seconds() / 86400, 2),
            "renewal_aware": self.renewal_aware,
            "renewal_point": self.renewal_point.isoformat(),
            "renew_by": self.renew_by.isoformat(),
        }
