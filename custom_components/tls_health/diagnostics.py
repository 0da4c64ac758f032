"""Diagnostics of an endpoint: settings and newest report, names and addresses redacted."""

from __future__ import annotations

import re
from typing import Any, Final

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ACME_DIRECTORY,
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_CERTIFICATE_FILE,
    CONF_SERVER_NAME,
    CONF_URL,
)
from .coordinator import TlsHealthConfigEntry
from .probe import Verdict
from .selfprobe import async_get_self_probe

TO_REDACT = {
    CONF_URL,
    CONF_SERVER_NAME,
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_CERTIFICATE_FILE,
    CONF_ACME_DIRECTORY,  # a private CA's directory names a host of the home
    "directory",
    "ca_file",
    "serial",
    "sha256",
    "host",
    "address",
    "sni",
    "expected_name",
    "names",
    "sans",
    "subject",
    "common_name",
    "endpoint",
    "detail",
    "peer",
    "remote",
    "forwarded_for",
    "forwarded_host",
    "proxy_address",
    "ca_file_error",  # names the file
}
# Words of the TLS library or of this integration ("ssl/tls alert handshake failure"): no dot
# in a word, no leading slash, colon or quote, so no host name, address or path, and none of a
# server's quoted words.
_WORD: Final = r"(?:[A-Za-z0-9_]+(?:/[A-Za-z0-9_]+)*|[0-9]+\.[0-9]+)"
_OWN_WORDS: Final = re.compile(rf"{_WORD}(?: {_WORD})*")
# A scheme as a proxy forwards it (X-Forwarded-Proto); anything else is the sender's words.
_SCHEMES: Final = re.compile(r"(?:https?|wss?)(?: ?, ?(?:https?|wss?))*", re.IGNORECASE)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant,
    entry: TlsHealthConfigEntry,
) -> dict[str, Any]:
    """Return the entry's settings and the endpoint's state: open repairs, streaks, reports."""
    diagnostics: dict[str, Any] = async_redact_data(
        {
            "data": dict(entry.data),
            "entry_options": dict(entry.options),
            **entry.runtime_data.data.as_dict(),
            # requests HA's forwarded middleware refused outside our checks: counts only
            "refused_traffic": {
                reason.value: tally.as_dict()
                for reason, tally in async_get_self_probe(hass).traffic.items()
            },
        },
        TO_REDACT,
    )
    _redact_self_issued(diagnostics)
    _redact_server_words(diagnostics)
    return diagnostics


def _redact_server_words(diagnostics: dict[str, Any]) -> None:
    """Redact what a server wrote: a greeting, a status word, an answer it quoted.

    The reason of a failed handshake is the TLS library's (kept); the reason of other verdicts
    can be a server's first words (plaintext_on_tls_port), its status word (starttls_not_offered)
    or a name a certificate's constraints refuse.
    """
    report = diagnostics.get("report") or {}
    details = report.get("details") or {}
    if "reason" in details and not (
        report.get("verdict") == Verdict.HANDSHAKE_FAILED and _own_words(details["reason"])
    ):
        details["reason"] = REDACTED
    http = report.get("http") or {}
    if http.get("error") is not None and not _own_words(http["error"]):
        http["error"] = REDACTED
    _redact_forwarded_schemes(diagnostics.get("reverse_proxy"))


def _redact_forwarded_schemes(value: object) -> None:
    """Redact a scheme a request arrived with that is not one (a proxy or client can send any)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in {"scheme", "forwarded_proto"} and isinstance(item, str):
                if not _SCHEMES.fullmatch(item):
                    value[key] = REDACTED
            else:
                _redact_forwarded_schemes(item)
    elif isinstance(value, list):
        for item in value:
            _redact_forwarded_schemes(item)


def _own_words(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 200 and bool(_OWN_WORDS.fullmatch(value))  # noqa: PLR2004


def _redact_self_issued(diagnostics: dict[str, Any]) -> None:
    """Redact the issuer of self-issued certificates: it is their subject, the endpoint's name."""
    report = diagnostics.get("report") or {}
    chain = report.get("chain") or []
    for certificate in chain:
        if certificate.get("self_issued"):
            for key in ("issuer", "issuer_organization", "issuer_common_name"):
                certificate[key] = REDACTED
    if chain and chain[0].get("self_issued"):
        details = report.get("details") or {}
        for key in ("issuer", "missing_issuer"):
            if key in details:
                details[key] = REDACTED
        if known := diagnostics.get("known_certificate"):
            known["issuer"] = known["issuer_organization"] = REDACTED
