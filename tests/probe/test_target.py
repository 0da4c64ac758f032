"""What users type into the config flow becomes a Target, or a clear error; nothing else."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given, strategies as st
import pytest

from custom_components.tls_health.probe.models import is_ip_address
from custom_components.tls_health.probe.target import InvalidTargetError, parse_target


@pytest.mark.parametrize(
    ("text", "host", "port", "sni"),
    [
        ("https://hass.example.com", "hass.example.com", 443, "hass.example.com"),
        ("https://Hass.Example.COM.:8443/lovelace/0", "hass.example.com", 8443, "hass.example.com"),
        ("hass.example.com:8123", "hass.example.com", 8123, "hass.example.com"),
        ("  hass.example.com  ", "hass.example.com", 443, "hass.example.com"),
        ("192.168.1.10", "192.168.1.10", 443, None),
        ("[2001:db8::1]:8443", "2001:db8::1", 8443, None),
        ("2001:db8::1", "2001:db8::1", 443, None),
        ("https://bücher.example", "xn--bcher-kva.example", 443, "xn--bcher-kva.example"),
        ("https://家.example:444", "xn--fct.example", 444, "xn--fct.example"),
        # IDNA 2008: ß is its own letter, not "ss" (IDNA 2003, Python's codec, would say strasse.de)
        ("straße.de", "xn--strae-oqa.de", 443, "xn--strae-oqa.de"),
        ("docker_host:8123", "docker_host", 8123, "docker_host"),
    ],
)
def test_accepted_forms(text: str, host: str, port: int, sni: str | None) -> None:
    target = parse_target(text)
    assert (target.host, target.port, target.sni) == (host, port, sni)


@pytest.mark.parametrize(
    ("text", "protocol", "port"),
    [
        ("https://hass.example.com", "https", 443),
        ("hass.example.com:8123", "https", 8123),
        ("tls://hass.example.com", "tls", 443),
        ("mqtts://broker.example.com", "mqtts", 8883),
        ("broker.example.com:8883", "mqtts", 8883),
        ("MQTTS://broker.example.com:18883", "mqtts", 18883),
        ("smtps://mail.example.com", "smtps", 465),
        ("smtp://mail.example.com", "smtp", 587),
        ("mail.example.com:25", "smtp", 25),
        ("mail.example.com:587", "smtp", 587),
        ("imaps://mail.example.com", "imaps", 993),
        ("mail.example.com:143", "imap", 143),
        ("pop3s://mail.example.com", "pop3s", 995),
        ("pop3://mail.example.com", "pop3", 110),
        ("ldaps://dir.example.com", "ldaps", 636),
        ("[2001:db8::1]:389", "ldap", 389),
        ("postgres://db.example.com", "postgres", 5432),
        ("postgresql://user@db.example.com:6432/hass", "postgres", 6432),
        ("db.example.com:5432", "postgres", 5432),
    ],
)
def test_protocols(text: str, protocol: str, port: int) -> None:
    target = parse_target(text)
    assert (target.protocol, target.port) == (protocol, port)


def test_sni_and_pinned_address() -> None:
    target = parse_target("192.168.1.10:8443", server_name="Hass.Example.com", address="[::1]")
    assert target.sni == "hass.example.com"
    assert target.expected_name == "hass.example.com"
    assert target.address == "::1"


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("", {}, "empty"),
        ("http://hass.example.com", {}, "not_https"),
        ("ftp://hass.example.com", {}, "not_https"),
        ("mqtt://broker.example.com", {}, "not_https"),
        ("postgresql://hass:secret@db.example.com/hass", {}, "url_has_credentials"),
        ("hass.example.com:0", {}, "invalid_port"),
        ("hass.example.com:65536", {}, "invalid_port"),
        ("hass.example.com:https", {}, "invalid_port"),
        ("https://", {}, "invalid_url"),
        ("https://[::1", {}, "invalid_url"),
        ("bad host!", {}, "invalid_host"),
        ("xn--zz-\u00e4.example", {}, "invalid_host"),
        ("a..b", {}, "invalid_host"),
        (f"{'a' * 64}.example", {}, "invalid_host"),
        ("hass.example.com", {"address": "hass.local"}, "invalid_address"),
        ("hass.example.com", {"server_name": "bad name"}, "invalid_server_name"),
    ],
)
def test_rejected_forms(text: str, kwargs: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidTargetError) as raised:
        parse_target(text, **kwargs)
    assert str(raised.value) == reason


REASONS = {
    "empty",
    "invalid_url",
    "invalid_host",
    "invalid_port",
    "not_https",
    "url_has_credentials",
}


@given(st.text(max_size=80))
def test_any_text_is_a_target_or_a_reason(text: str) -> None:
    reason = None
    try:
        target = parse_target(text)
    except InvalidTargetError as err:
        reason = str(err)
    if reason is None:
        assert target.host
        assert 1 <= target.port <= 65535
    else:
        assert reason in REASONS


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(
    labels=st.lists(LABEL, min_size=1, max_size=5),
    port=st.one_of(st.none(), st.integers(1, 65535)),
    path=st.sampled_from(["", "/", "/api/", "/lovelace/0?edit=1"]),
    scheme=st.booleans(),
)
def test_dns_names_round_trip(labels: list[str], port: int | None, path: str, scheme: bool) -> None:
    host = ".".join(labels)
    assume(not is_ip_address(host))  # e.g. labels 0, 0, 0, 0
    text = (
        f"{'https://' if scheme else ''}{host}{f':{port}' if port else ''}{path if scheme else ''}"
    )
    target = parse_target(text)
    assert (target.host, target.port, target.sni) == (host, port or 443, host)


@given(address=st.ip_addresses(), port=st.integers(1, 65535))
def test_ip_literals_round_trip(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    target = parse_target(f"https://{host}:{port}/")
    assert (target.host, target.port, target.sni) == (str(address), port, None)
