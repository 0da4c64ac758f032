"""Names and answers from the network reach repairs, states and logs inert."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID
from homeassistant.core import HomeAssistant
import pytest

from custom_components.tls_health.probe import inert

from .certs import issue
from .conftest import StartServer
from .helpers import entry_issue, next_check, setup_endpoint, state

LINK = "[click](https://evil.example)"
IMAGE = "![x](http://127.0.0.1:9/t.png)"
BREAKOUT = "a` [out](https://evil.example) `b\n# heading"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain name", "plain name"),
        ("a`b", "a\u02cbb"),
        ("line\nnext\r\ttab", "line next  tab"),
        ("bidi\u202eevil\u200b", "bidi\ufffdevil\ufffd"),
        ("esc\x1b[31m", "esc\ufffd[31m"),
    ],
)
def test_inert(value: str, shown: str) -> None:
    assert inert(value) == shown


def test_inert_caps_the_length() -> None:
    assert inert("x" * 300, 10) == "x" * 9 + "\u2026"
    assert inert("x" * 10, 10) == "x" * 10


async def test_hostile_certificate_names_reach_repairs_and_sensors_inert(
    hass: HomeAssistant, serve: StartServer, tls_context
) -> None:
    # No organization or common name: the issuer sensor shows the whole name, over 255 long.
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, IMAGE),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, LINK),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "u" * 60) for _ in range(4)),
            x509.NameAttribute(NameOID.LOCALITY_NAME, BREAKOUT),
        ]
    )
    self_signed = issue(None, subject=subject, names=("hass.example.test",))
    server = await serve(context=tls_context(self_signed))
    entry = await setup_endpoint(
        hass, {"url": f"https://hass.example.test:{server.port}", "address": "127.0.0.1"}
    )
    await next_check(hass)
    placeholders = entry_issue(hass, entry, "self_signed_certificate").translation_placeholders
    for value in placeholders.values():
        assert "`" not in value
        assert "\n" not in value
        assert len(value) <= 300
    # shown as text inside the repair text's code span
    assert "\u02cb [out](https://evil.example) \u02cbb # heading" in placeholders["subject"]
    issuer = state(hass, entry, "issuer")
    assert len(issuer) <= 255
    assert "\n" not in issuer
    assert "`" not in issuer
