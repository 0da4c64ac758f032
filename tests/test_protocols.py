"""Endpoints other than HTTPS in Home Assistant, against real Mosquitto and Dovecot on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.recorder import DATA_INSTANCE
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.tls_health.const import CONF_ADDRESS, CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.discovery import mqtt_url

from .certs import Pki
from .daemons import (
    Dovecot,
    Mosquitto,
    cert_files,
    free_ports,
    installed,
    running,
    service_directory,
)
from .helpers import entry_issue, next_check, open_issues, setup_endpoint, state

HOST = "services.example.test"

pytestmark = pytest.mark.usefixtures("socket_enabled")
needs_mosquitto = pytest.mark.skipif(not installed("mosquitto"), reason="mosquitto not installed")
needs_dovecot = pytest.mark.skipif(
    not installed("dovecot") or not Path("/usr/lib/dovecot/submission-login").exists(),
    reason="dovecot not installed",
)


@pytest.fixture
def service_dir() -> Iterator[Path]:
    with service_directory() as directory:
        yield directory


def data(scheme: str, port: int, pki: Pki) -> dict[str, str]:
    return {
        CONF_URL: f"{scheme}://{HOST}:{port}",
        CONF_ADDRESS: "127.0.0.1",
        CONF_CA_FILE: str(pki.root_file),
    }


def entity_keys(hass: HomeAssistant, entry_id: str) -> set[str]:
    return {
        entity.unique_id.removeprefix(f"{entry_id}_")
        for entity in er.async_entries_for_config_entry(er.async_get(hass), entry_id)
    }


@needs_mosquitto
async def test_mqtts_endpoint(hass: HomeAssistant, pki: Pki, service_dir: Path) -> None:
    """Certificate entities as for HTTPS; no reverse proxy sensor; the device names MQTT."""
    with running(Mosquitto(service_dir, cert_files(pki, service_dir, HOST))) as broker:
        since = broker.mark()
        entry = await setup_endpoint(hass, data("mqtts", broker.port, pki))
        assert state(hass, entry, "handshake") == "ok"
        assert state(hass, entry, "days_until_expiry") == "60"
        keys = entity_keys(hass, entry.entry_id)
        assert "reverse_proxy" not in keys
        assert {"handshake", "certificate_expiry", "days_until_expiry", "problem"} <= keys
        (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
        assert device.model == "MQTT over TLS endpoint"
        assert device.configuration_url is None
        report = entry.runtime_data.data.report
        assert report.protocols.tls1_0 is None  # no legacy scan by default: it logs errors
        assert entry.runtime_data.data.proxy is None
        await next_check(hass, minutes=61)
        assert open_issues(hass, entry) == set()
        assert broker.errors(since) == [], broker.text()[since:]


@needs_mosquitto
async def test_mqtts_expired_names_the_broker(
    hass: HomeAssistant, pki: Pki, service_dir: Path
) -> None:
    cert = cert_files(pki, service_dir, HOST, expired=True)
    with running(Mosquitto(service_dir, cert)) as broker:
        entry = await setup_endpoint(hass, data("mqtts", broker.port, pki))
        assert state(hass, entry, "handshake") == "certificate_expired"
        await next_check(hass)
        assert open_issues(hass, entry) == {"certificate_expired_service"}
        issue = entry_issue(hass, entry, "certificate_expired")
        assert issue.translation_placeholders["scheme"] == "mqtts"


@needs_dovecot
async def test_starttls_not_offered_raised_then_cleared(
    hass: HomeAssistant, pki: Pki, service_dir: Path
) -> None:
    """IMAP without TLS: a repair of its own (not "unreachable"); it clears once TLS is on."""
    plain = Dovecot(service_dir, None)
    tls_ports = free_ports(3)
    ports = [
        port
        for listener, tls_port in zip(("imap", "pop3", "submission"), tls_ports, strict=True)
        for port in (plain.port[listener], tls_port)
    ]
    with running(plain):
        entry = await setup_endpoint(hass, data("imap", plain.port["imap"], pki))
        assert state(hass, entry, "handshake") == "starttls_not_offered"
        assert open_issues(hass, entry) == set()
        await next_check(hass)
        assert open_issues(hass, entry) == {"starttls_not_offered"}
        issue = entry_issue(hass, entry, "starttls_not_offered")
        assert "does not offer STARTTLS" in issue.translation_placeholders["detail"]
        assert (
            issue.translation_placeholders["cause"]
            == "starttls_not_offered: CAPABILITY: no STARTTLS"
        )
        assert state(hass, entry, "problem") == "on"
    tls_dir = service_dir / "tls"
    tls_dir.mkdir()
    tls_dir.chmod(0o755)
    with running(Dovecot(tls_dir, cert_files(pki, service_dir, HOST), ports)):
        await next_check(hass, minutes=61)
        assert state(hass, entry, "handshake") == "ok"
        assert open_issues(hass, entry) == set()


@needs_dovecot
async def test_config_flow(hass: HomeAssistant, pki: Pki, service_dir: Path) -> None:
    """A STARTTLS endpoint is added with its scheme in the title; one without TLS is refused."""
    with running(Dovecot(service_dir, cert_files(pki, service_dir, HOST))) as server:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
        user_input = data("smtp", server.port["submission"], pki)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_URL: user_input[CONF_URL],
                "advanced": {
                    CONF_ADDRESS: user_input[CONF_ADDRESS],
                    CONF_CA_FILE: user_input[CONF_CA_FILE],
                },
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
        assert result["title"] == f"smtp://{HOST}:{server.port['submission']}"
        await hass.async_block_till_done(wait_background_tasks=True)
    plain_dir = service_dir / "plain"
    plain_dir.mkdir()
    plain_dir.chmod(0o755)
    with running(Dovecot(plain_dir, None)) as server:
        for scheme, listener, error in (
            ("pop3", "pop3", "starttls_not_offered"),
            ("imaps", "imap", "plaintext_on_tls_port"),
        ):
            result = await hass.config_entries.flow.async_init(
                DOMAIN, context={"source": config_entries.SOURCE_USER}
            )
            user_input = data(scheme, server.port[listener], pki)
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"],
                {CONF_URL: user_input[CONF_URL], "advanced": {CONF_ADDRESS: "127.0.0.1"}},
            )
            assert result["type"] is FlowResultType.FORM
            assert result["errors"] == {"base": error}


# -- offered from what Home Assistant knows -----------------------------------------------------


@pytest.mark.parametrize(
    ("entry_data", "offered"),
    [
        ({"broker": "broker.lan", "port": 8883, "certificate": "auto"}, "mqtts://broker.lan:8883"),
        ({"broker": "broker.lan", "port": 1883}, None),  # no TLS
        ({"broker": "broker.lan", "certificate": "auto", "transport": "websockets"}, None),
        ({"certificate": "auto"}, None),
    ],
)
def test_mqtt_url(entry_data: dict[str, object], offered: str | None) -> None:
    assert mqtt_url(entry_data) == offered


@needs_mosquitto
@needs_dovecot
async def test_offers_services_home_assistant_uses(
    hass: HomeAssistant, pki: Pki, service_dir: Path
) -> None:
    """MQTT and IMAP entries and the recorder's database become offers; no secret travels."""
    cert = cert_files(pki, service_dir, HOST)
    mail_dir = service_dir / "mail"
    mail_dir.mkdir()
    mail_dir.chmod(0o755)
    with running(Mosquitto(service_dir, cert)) as broker, running(Dovecot(mail_dir, cert)) as mail:
        MockConfigEntry(
            domain="mqtt",
            data={
                "broker": "127.0.0.1",
                "port": broker.port,
                "certificate": "auto",
                "username": "hass",
                "password": "mqtt-secret",
            },
        ).add_to_hass(hass)
        MockConfigEntry(
            domain="imap",
            data={
                "server": "127.0.0.1",
                "port": mail.port["imaps"],
                "username": "me",
                "password": "imap-secret",
            },
        ).add_to_hass(hass)
        hass.data[DATA_INSTANCE] = SimpleNamespace(  # type: ignore[assignment]
            db_url="postgresql://hass:db-secret@127.0.0.1:5/ha"
        )
        assert await async_setup_component(hass, DOMAIN, {DOMAIN: {}})
        await hass.async_block_till_done()
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        offered = {flow["context"]["title_placeholders"]["name"]: flow for flow in flows}
        assert set(offered) == {
            f"mqtts://127.0.0.1:{broker.port}",
            f"imaps://127.0.0.1:{mail.port['imaps']}",
            "postgres://127.0.0.1:5",
        }
        assert "secret" not in repr(flows)
        flow = offered[f"mqtts://127.0.0.1:{broker.port}"]
        assert flow["step_id"] == "service_confirm"
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"] == {CONF_URL: f"mqtts://127.0.0.1:{broker.port}"}
        await hass.async_block_till_done(wait_background_tasks=True)
        # nothing listens on the database's port: the offer says so instead of adding it
        flow = offered["postgres://127.0.0.1:5"]
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        assert result["errors"] == {"base": "connection_refused"}
        assert result["description_placeholders"] == {
            "url": "postgres://127.0.0.1:5",
            "service": "PostgreSQL",
        }


@needs_dovecot
async def test_inspect_a_starttls_url(hass: HomeAssistant, pki: Pki, service_dir: Path) -> None:
    """`inspect` speaks the URL's protocol, with the protocol's defaults (no legacy scan)."""
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: {}})
    with running(Dovecot(service_dir, cert_files(pki, service_dir, HOST))) as mail:
        since = mail.mark()
        report = await hass.services.async_call(
            DOMAIN,
            "inspect",
            {**data("pop3", mail.port["pop3"], pki)},
            blocking=True,
            return_response=True,
        )
        assert report["verdict"] == "ok"
        assert report["target"]["protocol"] == "pop3"
        assert report["timings"]["starttls_ms"] is not None
        assert report["protocols"]["tls1_0"] is None
        assert report["http"] is None
        mail.wait_for("Aborted login by logging out", since)
        assert mail.errors(since) == [], mail.text()[since:]
