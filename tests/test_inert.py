"""Names and answers from the network reach repairs, states and logs inert."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from homeassistant.core import HomeAssistant
from markdown_it import MarkdownIt
import pytest

from custom_components.tls_health.catalogue import NETWORK_PLACEHOLDERS
from custom_components.tls_health.issues import MAX_PLACEHOLDER
from custom_components.tls_health.probe import inert

from . import icu
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


HOSTILE = (
    "a` [click](https://evil.example) ![x](http://127.0.0.1:9/t.png) `b\n# heading\n"
    "<img src=x onerror=alert(1)> www.evil.example **bold** | table |"
)


def _rendered(text: str, value: str) -> str:
    """The HTML the frontend's Markdown makes of a repair text, network values set to `value`."""
    values = {name: value if name in NETWORK_PLACEHOLDERS else "x" for name in icu.arguments(text)}
    return MarkdownIt("commonmark").render(icu.render(text, values))


def _markup(html: str) -> dict[str, int]:
    return {tag: html.count(f"<{tag}") for tag in ("a", "img", "h1", "h2", "h3", "code", "strong")}


@pytest.mark.parametrize("language", ["strings", "zh-Hans"])
def test_no_repair_text_turns_network_values_into_markup(language: str) -> None:
    """Network values become inert, and texts show them in code spans: nothing is added."""
    component = Path(__file__).parent.parent / "custom_components" / "tls_health"
    path = component / ("strings.json" if language == "strings" else "translations/zh-Hans.json")
    issues = json.loads(path.read_text(encoding="utf-8"))["issues"]
    hostile = inert(HOSTILE, MAX_PLACEHOLDER)
    # Titles are shown as plain text; descriptions are Markdown.
    descriptions = {
        key: texts.get("description") or texts["fix_flow"]["step"]["confirm"]["description"]
        for key, texts in issues.items()
    }
    changed = [
        key
        for key, text in descriptions.items()
        if _markup(_rendered(text, hostile)) != _markup(_rendered(text, "x"))
    ]
    assert not changed
