"""Home Assistant's own certificate files: unreadable, mismatched, expiring; keys never kept."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.tls_health import own_tls
from custom_components.tls_health.const import DOMAIN
from custom_components.tls_health.findings import moment
from custom_components.tls_health.own_tls import read_certificate_files
from custom_components.tls_health.probe import Lifetime

from .certs import NOW, Pki
from .conftest import EndpointServer
from .helpers import endpoint_data, setup_endpoint


def test_matching_files(pki: Pki) -> None:
    chain, key = pki.server_files("ok", pki.leaf(), pki.intermediate)
    files = read_certificate_files(str(chain), str(key))
    assert files.problem is None
    assert files.names == ("hass.example.test",)
    assert files.not_after == NOW + timedelta(days=60)
    assert "PRIVATE" not in repr(files)


def test_key_of_another_certificate(pki: Pki) -> None:
    chain, _ = pki.server_files("one", pki.leaf(), pki.intermediate)
    _, other_key = pki.server_files("two", pki.leaf(), pki.intermediate)
    files = read_certificate_files(str(chain), str(other_key))
    assert files.problem is not None
    assert files.problem.key == "certificate_key_mismatch"
    assert files.placeholders == {"path": str(chain), "key_path": str(other_key)}


def test_missing_file_in_a_container(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / ".dockerenv"
    marker.touch()
    monkeypatch.setattr(own_tls, "CONTAINER_MARKERS", (marker,))
    path = "/etc/letsencrypt/live/hass/fullchain.pem"
    files = read_certificate_files(path, None)
    assert files.problem is not None
    assert files.problem.key == "certificate_file_unreadable"
    assert files.translation_key == "certificate_file_missing_in_container"
    assert files.placeholders == {"path": path}

    monkeypatch.setattr(own_tls, "CONTAINER_MARKERS", ())
    assert read_certificate_files(path, None).translation_key == "certificate_file_missing"


def test_file_home_assistant_may_not_read(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, which may read anything: the refusal is the one thing faked here.
    chain, key = pki.server_files("ok", pki.leaf(), pki.intermediate)
    read_bounded = own_tls.read_bounded

    def refuse_key(path: str) -> bytes:
        if path == str(key):
            raise PermissionError(13, "Permission denied")
        return read_bounded(path)

    monkeypatch.setattr(own_tls, "read_bounded", refuse_key)
    files = read_certificate_files(str(chain), str(key))
    assert files.problem is not None
    assert files.problem.key == "certificate_file_unreadable"
    assert files.translation_key == "certificate_file_not_permitted"
    assert files.placeholders == {"path": str(key)}


@pytest.mark.parametrize(
    ("what", "text"),
    [
        ("directory", "certificate_file_unreadable"),
        ("garbage", "certificate_file_invalid"),
        ("encrypted_key", "certificate_file_invalid"),
    ],
)
def test_unreadable(pki: Pki, tmp_path: Path, what: str, text: str) -> None:
    chain, key = pki.server_files("ok", pki.leaf(), pki.intermediate)
    if what == "directory":
        chain = tmp_path
    elif what == "garbage":
        chain.write_text("not a certificate")
    else:
        key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
    files = read_certificate_files(str(chain), str(key))
    assert files.problem is not None
    assert files.problem.key == "certificate_file_unreadable"
    assert files.translation_key == text
    if what == "directory":
        assert files.placeholders == {"path": str(chain), "reason": "not a regular file"}
    assert "secret" not in repr(files)


def test_key_of_an_unknown_algorithm_is_an_invalid_file(pki: Pki) -> None:
    chain, key = pki.server_files("ok", pki.leaf(), pki.intermediate)
    # PKCS#8 naming an algorithm (OID 1.2.3.4) no library knows
    unknown = bytes.fromhex("3010020100300506032a0304040404020000")
    key.write_bytes(
        b"-----BEGIN PRIVATE KEY-----\n"
        + base64.encodebytes(unknown)
        + b"-----END PRIVATE KEY-----\n"
    )
    files = read_certificate_files(str(chain), str(key))
    assert files.problem is not None
    assert files.translation_key == "certificate_file_invalid"


# (lifetime, left) -> the repair Home Assistant's own certificate raises, and its severity.
@pytest.mark.parametrize(
    ("lifetime", "left", "raised"),
    [
        # 90 days, renewed automatically: due a day after a third is left, an error at a sixth
        (timedelta(days=90), timedelta(days=60), None),
        (timedelta(days=90), timedelta(days=20), ("certificate_file_renewal_overdue", "warning")),
        (timedelta(days=90), timedelta(days=10), ("certificate_file_renewal_overdue", "error")),
        # 6 days: 3 days left is its normal life, not a certificate about to expire
        (timedelta(days=6), timedelta(days=3), None),
        (timedelta(days=6), timedelta(hours=30), ("certificate_file_renewal_overdue", "warning")),
        # 398 days, renewed by hand: the warning and critical days
        (timedelta(days=398), timedelta(days=30), None),
        (
            timedelta(days=398),
            timedelta(days=10, hours=1),
            ("certificate_file_expiring", "warning"),
        ),
        (timedelta(days=398), timedelta(days=5, hours=1), ("certificate_file_expiring", "error")),
        (timedelta(days=90), -timedelta(days=2), ("certificate_file_expired", "error")),
    ],
)
async def test_own_certificate_expiry_is_judged_by_its_lifetime(
    hass: HomeAssistant,
    pki: Pki,
    endpoint_server: EndpointServer,
    lifetime: timedelta,
    left: timedelta,
    raised: tuple[str, str] | None,
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    own = pki.leaf(not_before=NOW + left - lifetime, not_after=NOW + left)
    chain, key = pki.server_files("own", own, pki.intermediate)
    hass.http.ssl_certificate = str(chain)
    hass.http.ssl_key = str(key)
    hass.http.server_port = 9  # nothing listens: only the files are judged
    await own_tls.async_check_own_tls_now(hass)
    found = {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }
    expiry = ("certificate_file_expiring", "certificate_file_renewal_overdue")
    if raised is None:
        assert not set(found) & {*expiry, "certificate_file_expired"}
        return
    key_raised, severity = raised
    assert set(found) & {*expiry, "certificate_file_expired"} == {key_raised}
    issue = found[key_raised]
    assert issue.severity == severity
    placeholders = issue.translation_placeholders or {}
    assert placeholders["path"] == str(chain)
    if key_raised == "certificate_file_renewal_overdue":
        renew_by = Lifetime(own.cert.not_valid_before_utc, own.cert.not_valid_after_utc).renew_by
        assert placeholders["renew_by"] == moment(renew_by, dt_util.get_default_time_zone())


async def test_own_certificate_renewed_clears_its_expiry_repair(
    hass: HomeAssistant, pki: Pki, endpoint_server: EndpointServer
) -> None:
    await setup_endpoint(hass, endpoint_data(await endpoint_server(), pki))
    due = pki.leaf(not_before=NOW - timedelta(days=80), not_after=NOW + timedelta(days=10))
    chain, key = pki.server_files("own", due, pki.intermediate)
    hass.http.ssl_certificate = str(chain)
    hass.http.ssl_key = str(key)
    hass.http.server_port = 9
    await own_tls.async_check_own_tls_now(hass)
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, "certificate_file_renewal_overdue") is not None
    renewed_chain, renewed_key = pki.server_files("renewed", pki.leaf(), pki.intermediate)
    hass.http.ssl_certificate = str(renewed_chain)
    hass.http.ssl_key = str(renewed_key)
    await own_tls.async_check_own_tls_now(hass)
    assert registry.async_get_issue(DOMAIN, "certificate_file_renewal_overdue") is None
