"""The recorder's database URL, read as the recorder reads it: only scheme, host and port leave it."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import random
import shutil
import tempfile
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.recorder import DATA_INSTANCE
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.discovery import database_url
from custom_components.tls_health.probe import bracketed

from .certs import Pki
from .daemons import PostgresCluster, cert_files, postgres_bin, running, service_directory


@pytest.mark.parametrize(
    ("db_url", "offered"),
    [
        ("postgresql://hass:secret@db.lan/ha", "postgres://db.lan:5432"),
        (
            "postgresql+psycopg2://hass:secret@[2001:db8::5]:6432/ha",
            "postgres://[2001:db8::5]:6432",
        ),
        ("postgresql://hass@db.lan/ha?sslmode=require", "postgres://db.lan:5432"),
        ("postgresql://hass@db.lan/ha?sslmode=disable", None),
        ("postgresql://hass@/ha?host=/run/postgresql", None),
        ("mysql://hass:secret@db.lan/ha", None),
        ("sqlite:////config/home-assistant_v2.db", None),
        ("postgresql://db.lan:99999/ha", None),
        ("postgresql://db.lan:0/ha", None),
        (None, None),
        ("", None),
        ("not a url", None),
        # A password with `/` that was not percent-encoded: the recorder connects to db.lan.
        ("postgresql://ha:1234/Secret@db.lan/homeassistant", "postgres://db.lan:5432"),
        ("postgresql://ha:p#w:x/y@db.lan:6432/ha", "postgres://db.lan:6432"),
        ("postgresql://ha:p%40ss%2Fw@db.lan/ha?sslpassword=k3y", "postgres://db.lan:5432"),
        # Readings in doubt: the rest of a credential would be taken for the host.
        ("postgresql://ha:p@ss@db.lan/ha", None),
        ("postgresql://db.lan/ha?sslpassword=@evil", None),
        ("postgresql://ha:p?w@db.lan/ha", None),  # the `@` could be a query parameter's
        ("postgresql://h/a:secret@db.lan/ha", None),
        ("postgresql://ha:p@evil?x@db.lan/ha", None),
        ("postgresql://ha:p@evil/x@db.lan/ha", None),
        ("postgresql://ha:secret@db.lan/ha?sslpassword=a@b", None),
        ("postgresql://ha:secret@db lan/ha", None),
        ("postgresql://ha:secret@db.lan:54x/ha", None),
        # libpq would connect elsewhere than the URL's host.
        ("postgresql://ha@db.lan/ha?host=other.lan", None),
        ("postgresql://ha@db.lan/ha?hostaddr=192.0.2.9", None),
        ("postgres://ha@db.lan/ha", None),  # SQLAlchemy knows no such dialect
    ],
)
def test_database_url(db_url: str | None, offered: str | None) -> None:
    assert database_url(db_url) == offered


# Letters that no host, scheme or port here has, and the URL's delimiters.
CREDENTIAL_ALPHABET = "QWXZqwxz@/:%?#"
HOSTS = (("db.lan", None), ("10.0.0.5", 6432), ("2001:db8::5", 5433))


def _credential(rng: random.Random) -> str:
    return "".join(rng.choice(CREDENTIAL_ALPHABET) for _ in range(rng.randint(0, 10)))


def test_database_url_never_offers_a_credential() -> None:
    """Generated user names and passwords, encoded or not: the offer is the server or nothing."""
    rng = random.Random(1905)
    offered_raw = 0
    for _ in range(4000):
        user, password, key = _credential(rng), _credential(rng), _credential(rng)
        host, port = rng.choice(HOSTS)
        server = bracketed(host) + (f":{port}" if port else "")
        expected = f"postgres://{bracketed(host)}:{port or 5432}"
        userinfo = rng.choice([f"{user}:{password}@", f"{user}@", f":{password}@", ""])
        raw = f"postgresql://{userinfo}{server}/ha?sslpassword={key}&sslmode=require"
        offered = database_url(raw)
        assert offered in (None, expected), raw
        offered_raw += offered is not None
        encoded = (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{server}/ha"
            f"?sslpassword={quote(key, safe='')}"
        )
        assert database_url(encoded) == expected, encoded
    # most unencoded URLs still read unambiguously
    assert offered_raw > 1000


# -- in Home Assistant, against a real PostgreSQL -------------------------------------------------

needs_postgres = pytest.mark.skipif(postgres_bin() is None, reason="postgresql not installed")
# Every three characters of each hold a `!` or `~`, which nothing written at random (temporary
# paths, ports, tokens) holds: a fragment found can only have come from the credential.
USER = "Q!x~Z!w"
# As in `ha:1234/Secret@db.lan`: a `/` that was not percent-encoded.
PASSWORD = "!/Z~q!W1"  # noqa: S105 - made up
KEY_PASSWORD = "X~k!Q~z"  # noqa: S105 - made up


@pytest.fixture
def service_dir() -> Iterator[Path]:
    with service_directory() as directory:
        yield directory


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    directory = Path(tempfile.mkdtemp(prefix="tls-health-pg-"))
    directory.chmod(0o755)
    try:
        yield PostgresCluster(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _fragments(secret: str, length: int = 3) -> set[str]:
    return {secret[i : i + length] for i in range(len(secret) - length + 1)}


@needs_postgres
@pytest.mark.usefixtures("socket_enabled")
async def test_no_credential_of_the_database_url_leaves_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pki: Pki,
    service_dir: Path,
    cluster: PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The offer, its flow, the entry, its logs and diagnostics hold no part of a credential."""
    caplog.set_level("DEBUG")
    discovered: list[Any] = []
    create_flow = discovery_flow.async_create_flow

    def recording(*args: Any, **kwargs: Any) -> None:
        discovered.append((args[1:], kwargs))
        create_flow(*args, **kwargs)

    monkeypatch.setattr(discovery_flow, "async_create_flow", recording)
    cert = cert_files(pki, service_dir, "127.0.0.1")
    with running(cluster.server(service_dir, cert)) as database:
        server = f"127.0.0.1:{database.port}"
        hass.data[DATA_INSTANCE] = SimpleNamespace(  # type: ignore[assignment]
            # not percent-encoded, as users write it
            db_url=f"postgresql://{USER}:{PASSWORD}@{server}/homeassistant"
            f"?sslpassword={KEY_PASSWORD}&sslmode=require"
        )
        assert await async_setup_component(hass, DOMAIN, {DOMAIN: {}})
        await hass.async_block_till_done()
        (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert flow["context"]["title_placeholders"] == {"name": f"postgres://{server}"}
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        await hass.async_block_till_done(wait_background_tasks=True)
        (entry,) = hass.config_entries.async_entries(DOMAIN)
        assert entry.title == f"postgres://{server}"
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    seen = "\n".join(
        [
            repr(discovered),
            repr(flow),
            repr(result),
            repr(entry.as_dict()),
            json.dumps(diagnostics),
            caplog.text,
        ]
    )
    seen = seen.lower()
    for secret in (USER, PASSWORD, KEY_PASSWORD):
        assert not [part for part in _fragments(secret.lower()) if part in seen], secret
