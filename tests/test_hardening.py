"""Who may call the actions, and what a named file can do: special files, huge files, spellings."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import time

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from homeassistant.auth.models import User
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import Unauthorized
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.tls_health import own_tls
from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.probe import (
    MAX_FILE_BYTES,
    ProbeOptions,
    Prober,
    Target,
    read_bounded,
)
from custom_components.tls_health.probe.files import FileTooLargeError, NotARegularFileError

from .certs import Issued, Pki, issue
from .conftest import EndpointServer
from .helpers import (
    endpoint_data,
    next_check,
    open_issues,
    present,
    setup_endpoint,
    state,
)
from .loop_cpu import longest_loop_callback

# What one event-loop callback may cost, whatever a server sends.
LOOP_BUDGET = 0.05


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    """A FIFO nobody writes to: reading it blocks forever."""
    path = tmp_path / "ca.fifo"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize(
    ("action", "data"),
    [("check_now", {}), ("inspect", {"url": "https://127.0.0.1:9"})],
)
async def test_actions_are_for_administrators(
    hass: HomeAssistant, hass_read_only_user: User, action: str, data: dict[str, str]
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            action,
            data,
            blocking=True,
            return_response=action == "inspect",
            context=Context(user_id=hass_read_only_user.id),
        )


def test_bounded_read_refuses_special_and_huge_files(tmp_path: Path, fifo: str) -> None:
    started = time.monotonic()
    for special in ("/dev/zero", fifo, str(tmp_path)):
        with pytest.raises((NotARegularFileError, IsADirectoryError)):
            read_bounded(special)
    assert time.monotonic() - started < 1
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"A" * (MAX_FILE_BYTES + 1))
    with pytest.raises(FileTooLargeError):
        read_bounded(str(huge))
    fits = tmp_path / "fits.pem"
    fits.write_bytes(b"A" * MAX_FILE_BYTES)
    assert len(read_bounded(str(fits))) == MAX_FILE_BYTES


@pytest.mark.parametrize("ca_file", ["/dev/zero", "fifo", "secrets"])
async def test_config_flow_refuses_a_ca_file_without_certificates(
    hass: HomeAssistant, tmp_path: Path, fifo: str, ca_file: str
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("api_password: hunter2\n")
    path = {"fifo": fifo, "secrets": str(secrets)}.get(ca_file, ca_file)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await asyncio.wait_for(
        hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": "127.0.0.1", "advanced": {"ca_file": path}}
        ),
        timeout=5,
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "ca_file_invalid"}


async def test_probe_judges_without_an_unusable_ca_file(
    pki: Pki, endpoint_server: EndpointServer, fifo: str, socket_enabled: None
) -> None:
    server = await endpoint_server()
    prober = await Prober.create()
    for ca_file in ("/dev/zero", fifo):
        target = Target(
            host="hass.example.test", port=server.port, address="127.0.0.1", ca_file=ca_file
        )
        report = await asyncio.wait_for(
            prober.probe(target, ProbeOptions(timeout=5, scan_legacy=False, check_http=False)),
            timeout=5,
        )
        assert "not a regular file" in report.details["ca_file_error"]
        assert report.verdict == "incomplete_chain"  # judged with the default roots only


async def test_ca_cache_is_keyed_by_the_file_not_its_spelling(
    pki: Pki, endpoint_server: EndpointServer, socket_enabled: None
) -> None:
    server = await endpoint_server()
    prober = await Prober.create()
    root = pki.root_file
    spellings = [f"{root.parent}/{'./' * n}{root.name}" for n in range(40)]
    for spelling in spellings:
        report = await prober.probe(
            Target(
                host="hass.example.test", port=server.port, address="127.0.0.1", ca_file=spelling
            ),
            ProbeOptions(timeout=5, scan_legacy=False, check_http=False),
        )
        assert report.verdict == "ok"
    assert len(prober._ca_cache) == 1


async def test_own_certificate_as_a_special_file_is_a_repair(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, fifo: str
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    hass.http.ssl_certificate = fifo
    hass.http.ssl_key = None
    await asyncio.wait_for(own_tls.async_check_own_tls_now(hass), timeout=5)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "certificate_file_unreadable")
    assert issue is not None
    assert issue.translation_placeholders == {"path": fifo, "reason": "not a regular file"}


async def test_own_listener_that_does_not_answer_keeps_the_stale_repair(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """A check that reached no listener cannot tell whether it serves the renewed file."""
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    chain, key = pki.server_files("own", pki.leaf(), pki.intermediate)
    hass.http.ssl_certificate = str(chain)
    hass.http.ssl_key = str(key)
    hass.http.server_port = 9  # nothing listens: the probe is refused
    ir.async_create_issue(
        hass,
        DOMAIN,
        "stale_certificate",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="stale_certificate",
    )
    await own_tls.async_check_own_tls_now(hass)
    assert ir.async_get(hass).async_get_issue(DOMAIN, "stale_certificate") is not None


def huge_issuer_leaf(pki: Pki) -> Issued:
    """A 94 KB leaf whose issuer name has 4,700 parts."""
    parts = [
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"unit {i:04d}") for i in range(4700)
    ]
    issuer = issue(
        None,
        ca=True,
        issuer=pki.root,
        subject=x509.Name(
            [
                *parts,
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Huge CA"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Huge R1"),
            ]
        ),
    )
    return pki.leaf(issuer=issuer)


async def test_huge_issuer_holds_the_loop_briefly(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """The issuer of a leaf is parsed once, off the loop: its sensor reads what the probe found."""
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    leaf = huge_issuer_leaf(pki)
    assert 90_000 < len(leaf.cert.public_bytes(Encoding.DER)) < 100_000
    present(server, pki, leaf)  # without its issuer: a chain no client completes
    with longest_loop_callback() as longest:
        await next_check(hass, minutes=61)
        await next_check(hass, minutes=61)  # confirms the repair: its text names the issuer
    assert state(hass, entry, "handshake") == "incomplete_chain"
    assert open_issues(hass, entry) == {"incomplete_chain"}
    assert state(hass, entry, "issuer") == "Huge CA (Huge R1)"
    assert longest.cpu < LOOP_BUDGET, (
        f"a loop callback used {longest.cpu * 1000:.0f} ms of CPU: {longest.handle}"
    )
