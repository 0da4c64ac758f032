"""Config, discovery, reconfigure and options flows, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import socket

from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.tls_health.const import DOMAIN

from .certs import Pki, issue
from .conftest import EndpointServer
from .helpers import endpoint_data, setup_endpoint

pytestmark = pytest.mark.usefixtures("socket_enabled")


def form_input(data: dict[str, str]) -> dict[str, object]:
    """The form's shape: URL at the top, the rest in the advanced section."""
    return {"url": data["url"], "advanced": {k: v for k, v in data.items() if k != "url"}}


def suggested(result: dict, field: str) -> object:
    """Suggested value of a top-level form field."""
    for marker in result["data_schema"].schema:
        if marker == field:
            return marker.description["suggested_value"]
    raise KeyError(field)


async def start_user_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result["flow_id"]


@pytest.fixture
async def odd_ports() -> AsyncGenerator[dict[str, int]]:
    """Loopback ports that refuse, never answer, or answer plain HTTP."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    plain = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    yield {
        "connection_refused": closed,
        "timeout": silent.sockets[0].getsockname()[1],
        "not_tls": plain.sockets[0].getsockname()[1],
    }
    for writer in held:
        writer.close()
    for server in (silent, plain):
        server.close()
        await server.wait_closed()


async def test_user_flow_creates_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    flow_id = await start_user_flow(hass)
    data = endpoint_data(server, pki)
    result = await hass.config_entries.flow.async_configure(flow_id, form_input(data))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"hass.example.test:{server.port}"
    assert result["data"] == data
    entry = result["result"]
    assert entry.unique_id == f"hass.example.test:{server.port}:hass.example.test"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, form_input(data))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_certificate_problem_still_creates_entry(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server(issue("hass.example.test", names=("hass.example.test",)))
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, form_input(endpoint_data(server, pki))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_server_name_in_title(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "url": f"127.0.0.1:{server.port}",
            "advanced": {"server_name": "hass.example.test", "ca_file": str(pki.root_file)},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"hass.example.test (127.0.0.1:{server.port})"
    assert result["data"] == {
        "url": f"127.0.0.1:{server.port}",
        "server_name": "hass.example.test",
        "ca_file": str(pki.root_file),
    }


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({"url": "  "}, {"url": "empty"}),
        ({"url": "http://hass.example.test"}, {"url": "not_https"}),
        ({"url": "hass.example.test:70000"}, {"url": "invalid_port"}),
        ({"url": "bad host!"}, {"url": "invalid_host"}),
        (
            {"url": "hass.example.test", "advanced": {"address": "not-an-ip"}},
            {"base": "invalid_address"},
        ),
        (
            {"url": "127.0.0.1", "advanced": {"server_name": "bad name!"}},
            {"base": "invalid_server_name"},
        ),
        (
            {"url": "127.0.0.1", "advanced": {"ca_file": "/nonexistent/ca.pem"}},
            {"base": "ca_file_unreadable"},
        ),
        ({"url": "https://nothing.invalid"}, {"base": "cannot_resolve"}),
    ],
)
async def test_user_flow_input_errors(
    hass: HomeAssistant, user_input: dict[str, object], errors: dict[str, str]
) -> None:
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {"advanced": {}, **user_input})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors


@pytest.mark.parametrize("error", ["connection_refused", "not_tls", "timeout"])
async def test_user_flow_network_errors(
    hass: HomeAssistant, odd_ports: dict[str, int], error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.tls_health.config_flow.PROBE_TIMEOUT", 0.5)
    port = odd_ports[error]
    flow_id = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"url": f"127.0.0.1:{port}", "advanced": {}}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert suggested(result, "url") == f"127.0.0.1:{port}"  # what was typed stays


async def test_user_form_suggests_external_https_url(hass: HomeAssistant) -> None:
    await hass.config.async_update(external_url="https://hass.example.test")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert suggested(result, "url") == "https://hass.example.test"


async def test_discovery_of_external_url(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    url = f"https://127.0.0.1:{server.port}"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data={"url": url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {"url": url}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"url": url}

    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data={"url": url}
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"


async def test_discovery_confirm_reports_unreachable(
    hass: HomeAssistant, odd_ports: dict[str, int]
) -> None:
    closed_port = odd_ports["connection_refused"]
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data={"url": f"https://127.0.0.1:{closed_port}"},
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "connection_refused"}


async def test_integration_offers_external_url_once_loaded(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    await hass.config.async_update(external_url=f"https://127.0.0.1:{server.port}")
    await setup_endpoint(hass, endpoint_data(server, pki))
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_INTEGRATION_DISCOVERY]


@pytest.mark.parametrize(
    "external_url", [None, "http://hass.example.test", "https://hass..example.test"]
)
async def test_no_offer_without_https_external_url(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer, external_url: str | None
) -> None:
    await hass.config.async_update(external_url=external_url)
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


async def test_no_offer_when_external_url_is_watched(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    await hass.config.async_update(external_url=f"https://127.0.0.1:{server.port}")
    await setup_endpoint(hass, {"url": f"127.0.0.1:{server.port}", "ca_file": str(pki.root_file)})
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


async def test_reconfigure_same_endpoint_other_settings(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    server = await endpoint_server()
    data = endpoint_data(server, pki)
    entry = await setup_endpoint(hass, data)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": data["url"], "advanced": {"address": "127.0.0.1", "ca_file": "  "}},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {"url": data["url"], "address": "127.0.0.1"}


async def test_reconfigure(hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer) -> None:
    first, second = await endpoint_server(), await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(first, pki))
    other = await setup_endpoint(
        hass, {**endpoint_data(first, pki), "url": "https://other.example.test:1"}
    )

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    new_data = endpoint_data(second, pki)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form_input(new_data))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == new_data
    assert entry.unique_id == f"hass.example.test:{second.port}:hass.example.test"
    assert entry.title == f"hass.example.test:{second.port}"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    result = await other.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": "ftp://x", "advanced": {}}
    )
    assert result["errors"] == {"url": "not_https"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form_input(new_data))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer) -> None:
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 5, "warning_days": 10, "critical_days": 20, "scan_legacy": True},
    )
    assert result["errors"] == {"critical_days": "critical_after_warning"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 5.0, "warning_days": 30.0, "critical_days": 10.0, "scan_legacy": False},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        "scan_interval": 5,
        "warning_days": 30,
        "critical_days": 10,
        "scan_legacy": False,
        "leads_to_home_assistant": False,
        "check_revocation": True,
        "check_renewal_info": True,
    }
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.update_interval.total_seconds() == 300


async def test_options_revocation_and_renewal_info(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    """On by default, each switchable off; a directory URL must be https."""
    server = await endpoint_server()
    entry = await setup_endpoint(hass, endpoint_data(server, pki))
    assert entry.runtime_data.options.check_revocation
    assert entry.runtime_data.options.check_renewal_info
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = {str(marker): marker for marker in result["data_schema"].schema}
    assert schema["check_revocation"].default() is True
    assert schema["check_renewal_info"].default() is True
    base = {"scan_interval": 60, "warning_days": 14, "critical_days": 7, "scan_legacy": True}
    for wrong in (
        "http://acme.example.test/directory",
        "https://user:secret@acme.example.test/directory",
        "https://acme example.test/directory",
        "https://[::1/directory",
        "acme.example.test",
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                **base,
                "check_revocation": True,
                "check_renewal_info": True,
                "acme_directory": wrong,
            },
        )
        assert result["errors"] == {"acme_directory": "acme_directory_invalid"}, wrong
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **base,
            "check_revocation": False,
            "check_renewal_info": False,
            "acme_directory": " https://ca.example.test:9000/acme/acme/directory ",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    options = entry.runtime_data.options
    assert not options.check_revocation
    assert not options.check_renewal_info
    assert options.acme_directory == "https://ca.example.test:9000/acme/acme/directory"
