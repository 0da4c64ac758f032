"""Actions and diagnostics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import json
from pathlib import Path
import ssl
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health.const import CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.probe import days_until
from custom_components.tls_health.state import EndpointState

from .certs import NOW, Pki, issue
from .conftest import EndpointServer, StartServer
from .helpers import endpoint_data, next_check, present, setup_endpoint, state
from .servers import alerting_tls


async def test_check_now_one_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    first, second = await endpoint_server(), await endpoint_server()
    watched = await setup_endpoint(hass, endpoint_data(first, pki))
    other = await setup_endpoint(hass, endpoint_data(second, pki))
    soon = pki.leaf(not_after=NOW + timedelta(days=30, hours=1))
    present(first, pki, soon, pki.intermediate)
    present(second, pki, soon, pki.intermediate)
    await hass.services.async_call(
        DOMAIN, "check_now", {"config_entry_id": watched.entry_id}, blocking=True
    )
    now = dt_util.now()
    assert state(hass, watched, "days_until_expiry") == str(
        days_until(soon.cert.not_valid_after_utc, now)
    )
    assert state(hass, other, "days_until_expiry") == str(days_until(NOW + timedelta(days=60), now))


async def test_inspect_returns_the_report(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    by_entry = await hass.services.async_call(
        DOMAIN, "inspect", {"config_entry_id": entry.entry_id}, blocking=True, return_response=True
    )
    assert by_entry["verdict"] == "ok"
    assert by_entry["chain"][0]["sans"] == ["hass.example.test"]
    json.dumps(by_entry)

    by_url = await hass.services.async_call(
        DOMAIN,
        "inspect",
        {"url": f"https://127.0.0.1:{server.port}", "ca_file": str(pki.root_file)},
        blocking=True,
        return_response=True,
    )
    assert by_url["verdict"] == "hostname_mismatch"
    assert by_url["target"]["host"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("inspect", {"url": "http://plain.example.test"}, "invalid_target"),
        ("inspect", {"config_entry_id": "missing"}, "entry_not_found"),
        ("check_now", {"config_entry_id": "missing"}, "entry_not_found"),
    ],
)
async def test_action_errors(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    service: str,
    data: dict,
    key: str,
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, service, data, blocking=True, return_response=service == "inspect"
        )
    assert raised.value.translation_key == key


async def test_action_on_unloaded_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    entry = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    other = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "check_now", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert raised.value.translation_key == "entry_not_loaded"
    await hass.services.async_call(DOMAIN, "check_now", {}, blocking=True)
    assert state(hass, other, "handshake") == "ok"


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["report"]["verdict"] == "ok"
    assert diagnostics["reverse_proxy"] is None  # its URL does not lead to this HA
    assert diagnostics["data"]["url"] == "**REDACTED**"
    assert diagnostics["report"]["chain"][0]["sans"] == "**REDACTED**"
    assert "hass.example.test" not in json.dumps(diagnostics)
    assert str(pki.root_file) not in json.dumps(diagnostics)
    assert "PRIVATE KEY" not in json.dumps(diagnostics)


async def test_diagnostics_list_open_repairs(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["open_repairs"] == []
    assert diagnostics["streaks"] == {"self_signed_certificate": 1}
    await next_check(hass)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["open_repairs"] == ["self_signed_certificate"]
    # a self-signed certificate's issuer is its own name
    assert "hass.example.test" not in json.dumps(diagnostics)


# -- what a server or a path writes stays out of diagnostics -----------------------------------

PRIVATE_NAME = "secret-host"  # as a host name in a greeting, a status word or an answer


async def greets_in_plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 secret-host.example ESMTP ready\r\n")
    await writer.drain()
    await reader.read()


async def refuses_starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """IMAP that offers STARTTLS, then refuses it with a status word of its own."""
    writer.write(b"* OK ready\r\n")
    answers = {
        b"a1": b"* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n",
        b"a2": b"a2 MAIL.SECRET-HOST.EXAMPLE no\r\n",
    }
    while line := await reader.readline():
        tag = line.split(b" ", 1)[0]
        writer.write(answers.get(tag, tag + b" OK bye\r\n"))
        await writer.drain()


async def answers_no_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"mail.secret-host.example says hello\r\n\r\n")
    await writer.drain()


type Setup = Callable[[Pki, StartServer, Any, Path], Awaitable[dict[str, str]]]


async def plaintext_greeting(pki: Pki, serve: StartServer, _: Any, __: Path) -> dict[str, str]:
    server = await serve(greets_in_plain_text)
    return {**endpoint_data(server, pki), CONF_URL: f"smtps://hass.example.test:{server.port}"}


async def refused_starttls(pki: Pki, serve: StartServer, _: Any, __: Path) -> dict[str, str]:
    server = await serve(refuses_starttls)
    return {**endpoint_data(server, pki), CONF_URL: f"imap://hass.example.test:{server.port}"}


async def not_http(pki: Pki, serve: StartServer, tls_context: Any, _: Path) -> dict[str, str]:
    server = await serve(answers_no_http, context=tls_context(pki.leaf(), pki.intermediate))
    return endpoint_data(server, pki)


async def ca_file_gone(pki: Pki, serve: StartServer, tls_context: Any, tmp: Path) -> dict[str, str]:
    server = await serve(context=tls_context(pki.leaf(), pki.intermediate))
    return {**endpoint_data(server, pki), CONF_CA_FILE: str(tmp / PRIVATE_NAME / "ca.pem")}


HOSTILE: dict[str, tuple[Setup, str, tuple[str, ...]]] = {
    # how the endpoint is served, its verdict, where the server's or the path's words were
    "plaintext_greeting": (plaintext_greeting, "plaintext_on_tls_port", ("details", "reason")),
    "refused_starttls": (refused_starttls, "starttls_not_offered", ("details", "reason")),
    "not_http": (not_http, "ok", ("http", "error")),
    "ca_file_gone": (ca_file_gone, "incomplete_chain", ("details", "ca_file_error")),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE)
async def test_diagnostics_hold_no_server_words_or_paths(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    serve: StartServer,
    tls_context: Any,
    tmp_path: Path,
    case: tuple[Setup, str, tuple[str, ...]],
) -> None:
    setup, verdict, (part, key) = case
    entry = await setup_endpoint(hass, await setup(pki, serve, tls_context, tmp_path))
    report = entry.runtime_data.data.report
    assert report is not None
    assert report.verdict == verdict, report.detail
    written = report.details[key] if part == "details" else getattr(report.http, key)
    assert PRIVATE_NAME in written.lower()  # the probe keeps it: the repair texts show it, inert
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["report"][part][key] == "**REDACTED**"
    assert PRIVATE_NAME not in json.dumps(diagnostics).lower()


async def test_diagnostics_keep_the_tls_library_reason(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    serve: StartServer,
    tls_context: Any,
) -> None:
    """A failed handshake's reason is OpenSSL's: what a maintainer needs, and nobody's name."""
    context = tls_context(pki.leaf(), pki.intermediate, maximum=ssl.TLSVersion.TLSv1_2)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.root_file))
    server = await serve(alerting_tls(context))
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["report"]["verdict"] == "handshake_failed"
    assert "alert" in diagnostics["report"]["details"]["reason"]


@pytest.mark.parametrize(
    "value",
    ["secret-host", "https, secret-host.example", "https\nsecret-host", "http/secret-host"],
)
async def test_diagnostics_redact_forwarded_schemes_that_are_not_schemes(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    endpoint_server: EndpointServer,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    """X-Forwarded-Proto as a request to this HA carried it: a proxy or client may send any."""
    entry = await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    as_dict = EndpointState.as_dict

    def with_observation(state: EndpointState) -> dict[str, Any]:
        observed = {"scheme": value, "forwarded_proto": value}
        return {
            **as_dict(state),
            "reverse_proxy": {
                "observation": observed,
                "forged": {"scheme": "https", "forwarded_proto": "https, http"},
            },
        }

    monkeypatch.setattr(EndpointState, "as_dict", with_observation)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["reverse_proxy"] == {
        "observation": {"scheme": "**REDACTED**", "forwarded_proto": "**REDACTED**"},
        "forged": {"scheme": "https", "forwarded_proto": "https, http"},
    }
