"""Home Assistant's own certificate files: unreadable, mismatched, expiring; keys never kept."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import pytest

from custom_components.tls_health import own_tls
from custom_components.tls_health.own_tls import read_certificate_files

from .certs import NOW, Pki


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
