"""What the CA says, as Home Assistant shows it: sensors, repairs, diagnostics and `inspect`.

A real `openssl ca` issues and revokes, nginx serves its CRL, `openssl ocsp` answers for it, and
an RFC 9773 renewal information server gives windows (tests/authority.py). Only one thing is
faked, for Home Assistant's own certificate: that the test CA is one of the public roots.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
import ssl
from typing import Any

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health import own_tls
from custom_components.tls_health.const import CONF_ADDRESS, CONF_CA_FILE, CONF_URL, DOMAIN
from custom_components.tls_health.probe import engine
from custom_components.tls_health.probe.trust import TrustStore, load_ca_file

from .authority import AriHandler, Leaf, NginxFiles, OcspResponder, OpenSslCa, served_authority
from .certs import DAY, NOW, Pki
from .conftest import StartServer
from .daemons import free_ports, installed, running, service_directory
from .helpers import entry_issue, next_check, open_issues, setup_endpoint, state
from .servers import Server

HOST = "hass.example.test"

needs_nginx = pytest.mark.skipif(not installed("nginx"), reason="nginx not installed")


@pytest.fixture
def authority(socket_enabled: None) -> Iterator[tuple[OpenSslCa, NginxFiles, Path]]:
    """A real openssl CA whose CRL nginx serves from www/."""
    with served_authority() as served:
        yield served


def context_of(leaf: Leaf) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert_file, leaf.key_file)
    return context


def trusting(server: Server, ca_file: Path) -> dict[str, str]:
    """Entry data for hass.example.test on the server, trusting ca_file."""
    return {
        CONF_URL: f"https://{HOST}:{server.port}",
        CONF_ADDRESS: "127.0.0.1",
        CONF_CA_FILE: str(ca_file),
    }


async def watch(
    hass: HomeAssistant, serve: StartServer, leaf: Leaf, ca: OpenSslCa, **options: Any
) -> MockConfigEntry:
    return await setup_endpoint(
        hass, trusting(await serve(context=context_of(leaf)), ca.root_file), options
    )


@needs_nginx
async def test_revoked_good_and_unknown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    authority: tuple[OpenSslCa, NginxFiles, Path],
    serve: StartServer,
) -> None:
    ca, nginx, www = authority
    crl = nginx.url("ca.crl")
    good = ca.issue(HOST, crl_url=crl)
    revoked = ca.issue(HOST, crl_url=crl)
    unnamed = ca.issue(HOST)  # names no CRL and no OCSP responder, as many private CAs
    ca.revoke(revoked, "keyCompromise")
    ca.crl(www / "ca.crl")
    entries = {
        "good": await watch(hass, serve, good, ca),
        "revoked": await watch(hass, serve, revoked, ca),
        "unknown": await watch(hass, serve, unnamed, ca),
    }
    assert {name: state(hass, entry, "revocation") for name, entry in entries.items()} == {
        "good": "good",
        "revoked": "revoked",
        "unknown": "unknown",
    }
    assert {name: state(hass, entry, "problem") for name, entry in entries.items()} == {
        "good": "off",
        "revoked": "on",
        "unknown": "off",
    }
    assert nginx.requests(www / "ca.crl") == 1  # one CRL for every endpoint of the issuer
    assert open_issues(hass, entries["good"]) == set()
    assert open_issues(hass, entries["unknown"]) == set()
    # one check is enough: the CA signed it
    issue = entry_issue(hass, entries["revoked"], "certificate_revoked")
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "certificate_revoked_key_compromise"
    placeholders = issue.translation_placeholders or {}
    assert placeholders["revocation_reason"] == "keyCompromise"
    assert placeholders["serial"] == format(revoked.cert.serial_number, "x")
    assert placeholders["revoked_subject"] == f"CN={HOST}"
    assert placeholders["revocation_source"] == "CRL"
    # to the minute, in Home Assistant's time zone
    zone = dt_util.get_default_time_zone()
    revoked_at = datetime.strptime(placeholders["revoked_at"][:16], "%Y-%m-%d %H:%M").replace(
        tzinfo=zone
    )
    assert abs(revoked_at - dt_util.now()) < timedelta(minutes=10)

    # diagnostics and inspect carry the CA's answer; diagnostics redact what names the certificate
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entries["revoked"])
    answer = diagnostics["report"]["revocation"]
    assert answer["state"] == "revoked"
    assert answer["reason"] == "key_compromise"
    assert answer["source"] == "crl"
    assert answer["serial"] == REDACTED
    assert answer["url"] == REDACTED
    assert diagnostics["report"]["revocation_chain"][0]["state"] == "revoked"
    assert diagnostics["options"]["check_revocation"] is True
    inspected = await hass.services.async_call(
        DOMAIN,
        "inspect",
        {"config_entry_id": entries["revoked"].entry_id},
        blocking=True,
        return_response=True,
    )
    assert inspected is not None
    assert inspected["revocation"]["state"] == "revoked"
    assert inspected["revocation"]["serial"] == format(revoked.cert.serial_number, "x")

    # switched off: nobody is asked, and what was said is cleared
    entry = entries["revoked"]
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        flow["flow_id"],
        {
            "scan_interval": 60,
            "warning_days": 14,
            "critical_days": 7,
            "scan_legacy": True,
            "check_revocation": False,
            "check_renewal_info": True,
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await next_check(hass, minutes=61)
    assert state(hass, entry, "revocation") == "unknown"
    assert open_issues(hass, entry) == set()
    assert state(hass, entry, "problem") == "off"


@needs_nginx
async def test_unknown_answer_keeps_what_the_ca_said(
    hass: HomeAssistant, authority: tuple[OpenSslCa, NginxFiles, Path], serve: StartServer
) -> None:
    """A CRL that cannot be had any more neither clears nor raises; a new certificate clears."""
    ca, nginx, www = authority
    revoked = ca.issue(HOST, crl_url=nginx.url("ca.crl"))
    ca.revoke(revoked, "superseded")
    ca.crl(www / "ca.crl")
    server = await serve(context=context_of(revoked))
    entry = await setup_endpoint(hass, trusting(server, ca.root_file))
    assert entry_issue(hass, entry, "certificate_revoked").translation_key == (
        "certificate_revoked"
    )
    # the CA's CRL is gone, and the cached one too (a new prober: as after a restart)
    (www / "ca.crl").unlink()
    hass.data.pop(f"{DOMAIN}_prober")
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, entry, "revocation") == "unknown"
    assert "certificate_revoked" in open_issues(hass, entry)
    # replaced by a certificate that names no source: not about the revoked one any more
    replacement = ca.issue(HOST)
    server.present(replacement.cert_file, replacement.key_file)
    await next_check(hass, minutes=61)
    assert state(hass, entry, "revocation") == "unknown"
    assert open_issues(hass, entry) == set()


@pytest.fixture
def ocsp_authority(socket_enabled: None) -> Iterator[tuple[OpenSslCa, int]]:
    with service_directory() as directory:
        yield OpenSslCa(directory / "ca"), free_ports(1)[0]


async def test_revoked_by_ocsp(
    hass: HomeAssistant, ocsp_authority: tuple[OpenSslCa, int], serve: StartServer
) -> None:
    ca, port = ocsp_authority
    revoked = ca.issue(HOST, ocsp_url=f"http://127.0.0.1:{port}/")
    ca.revoke(revoked, "cessationOfOperation")
    responder = ca.issue("TLS Health OCSP Responder", extensions="ocsp_ext")
    with running(OcspResponder(ca, responder.cert_file, responder.key_file, port)):
        entry = await watch(hass, serve, revoked, ca)
    assert state(hass, entry, "revocation") == "revoked"
    issue = entry_issue(hass, entry, "certificate_revoked")
    assert issue.translation_key == "certificate_revoked"  # the key is not at risk
    placeholders = issue.translation_placeholders or {}
    assert placeholders["revocation_reason"] == "cessationOfOperation"
    assert placeholders["revocation_source"] == "OCSP"


@pytest.fixture
async def ari(pki: Pki, serve: StartServer) -> AriHandler:
    handler = AriHandler()
    server = await serve(
        handler, context=pki.server_context(pki.leaf("127.0.0.1"), pki.intermediate)
    )
    handler.base = f"https://127.0.0.1:{server.port}"
    return handler


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_the_ca_asks_for_renewal_now(
    hass: HomeAssistant, pki: Pki, ari: AriHandler, serve: StartServer
) -> None:
    leaf = pki.leaf(HOST)
    start, end = NOW - 2 * DAY, NOW - DAY
    ari.window(leaf.cert, _iso(start), _iso(end), explanationURL="https://ca.example/incident-42")
    server = await serve(context=pki.server_context(leaf, pki.intermediate))
    entry = await setup_endpoint(
        hass, trusting(server, pki.root_file), {"acme_directory": ari.directory()}
    )
    assert datetime.fromisoformat(state(hass, entry, "renewal_window")) == start
    assert datetime.fromisoformat(state(hass, entry, "renewal_due")) == end
    issue = entry_issue(hass, entry, "renewal_requested_by_ca")
    assert issue.translation_key == "renewal_requested_by_ca_explained"
    assert issue.severity is ir.IssueSeverity.WARNING
    placeholders = issue.translation_placeholders or {}
    assert placeholders["explanation_url"] == "https://ca.example/incident-42"
    assert state(hass, entry, "problem") == "on"


async def test_a_window_ahead_is_the_normal_life(
    hass: HomeAssistant, pki: Pki, ari: AriHandler, serve: StartServer
) -> None:
    """20 of 90 days left is past the third-of-lifetime rule, but the CA's window is ahead."""
    leaf = pki.leaf(HOST, not_before=NOW - 70 * DAY, not_after=NOW + 20 * DAY)
    start, end = NOW + DAY, NOW + 3 * DAY
    ari.window(leaf.cert, _iso(start), _iso(end))
    server = await serve(context=pki.server_context(leaf, pki.intermediate))
    entry = await setup_endpoint(
        hass, trusting(server, pki.root_file), {"acme_directory": ari.directory()}
    )
    await next_check(hass)
    assert datetime.fromisoformat(state(hass, entry, "renewal_window")) == start
    assert datetime.fromisoformat(state(hass, entry, "renewal_due")) == end
    assert open_issues(hass, entry) == set()
    # without the CA's word, the lifetime rule speaks
    other = await setup_endpoint(
        hass,
        trusting(await serve(context=pki.server_context(leaf, pki.intermediate)), pki.root_file),
        {"check_renewal_info": False},
    )
    await next_check(hass)
    assert state(hass, other, "renewal_window") == "unknown"
    assert open_issues(hass, other) == {"certificate_renewal_overdue"}


@needs_nginx
async def test_own_certificate_revoked(
    hass: HomeAssistant,
    authority: tuple[OpenSslCa, NginxFiles, Path],
    serve: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca, nginx, www = authority
    # the one thing faked: the test CA stands for the public roots Home Assistant's listener uses
    roots, error = load_ca_file(str(ca.root_file))
    assert error is None
    monkeypatch.setattr(engine, "load_default_trust", lambda: TrustStore.build(roots))
    crl = nginx.url("ca.crl")
    revoked = ca.issue(HOST, crl_url=crl)
    good = ca.issue(HOST, crl_url=crl)
    unnamed = ca.issue(HOST)
    ca.revoke(revoked, "keyCompromise")
    ca.crl(www / "ca.crl")
    listener = await serve(context=context_of(revoked))
    await watch(hass, serve, good, ca)  # loads the integration

    async def serving(leaf: Leaf) -> ir.IssueEntry | None:
        listener.present(leaf.cert_file, leaf.key_file)
        hass.http.ssl_certificate = str(leaf.cert_file)
        hass.http.ssl_key = str(leaf.key_file)
        hass.http.server_port = listener.port
        await own_tls.async_check_own_tls_now(hass)
        return ir.async_get(hass).async_get_issue(DOMAIN, "certificate_file_revoked")

    issue = await serving(revoked)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "certificate_file_revoked_key_compromise"
    assert (issue.translation_placeholders or {})["path"] == str(revoked.cert_file)
    assert (issue.translation_placeholders or {})["revocation_reason"] == "keyCompromise"
    # an answer that proves nothing keeps it; a certificate that is not revoked clears it
    assert await serving(unnamed) is not None
    assert await serving(good) is None
