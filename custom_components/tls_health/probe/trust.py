"""Trust stores and CA files: the certificates a probe trusts.

Reading and indexing them blocks: callers run these functions in an executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
import warnings

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification

from .files import FileTooLargeError, NotARegularFileError, read_bounded


@dataclass(frozen=True, slots=True)
class TrustStore:
    """Trusted roots (and any other trusted certificates) for verification."""

    certificates: tuple[x509.Certificate, ...]
    store: verification.Store
    by_subject: dict[x509.Name, tuple[x509.Certificate, ...]]
    fingerprints: frozenset[bytes]

    @classmethod
    def build(cls, certificates: Iterable[x509.Certificate]) -> TrustStore:
        """Index certificates; CPU work, run it in an executor for a full bundle."""
        unique: dict[bytes, x509.Certificate] = {}
        for cert in certificates:
            unique.setdefault(cert.fingerprint(hashes.SHA256()), cert)
        certs = tuple(unique.values())
        by_subject: dict[x509.Name, list[x509.Certificate]] = {}
        for cert in certs:
            by_subject.setdefault(cert.subject, []).append(cert)
        return cls(
            certificates=certs,
            store=verification.Store(list(certs)),
            by_subject={name: tuple(found) for name, found in by_subject.items()},
            fingerprints=frozenset(unique),
        )

    def extended(self, extra: Sequence[x509.Certificate]) -> TrustStore:
        """Return a store that also trusts `extra`."""
        return TrustStore.build((*self.certificates, *extra)) if extra else self

    def contains(self, cert: x509.Certificate) -> bool:
        """Whether this exact certificate is trusted."""
        return cert.fingerprint(hashes.SHA256()) in self.fingerprints


def load_default_trust() -> TrustStore:
    """Parse certifi's bundle, the roots Home Assistant's own HTTP client trusts (blocking)."""
    certs, error = load_ca_file(certifi.where())
    if error is not None:  # pragma: no cover - certifi ships a readable bundle
        raise RuntimeError(error)
    return TrustStore.build(certs)


def load_ca_file(path: str) -> tuple[list[x509.Certificate], str | None]:
    """Read a PEM (or single DER) file of CA certificates; never raises (blocking)."""
    try:
        data = read_bounded(path)
    except OSError as err:
        return [], f"CA file {path} cannot be read ({err.strerror or err})"
    certs = _ca_certificates(data)
    if not certs:
        return [], f"CA file {path} holds no readable certificate"
    return certs, None


class CaFileProblem(StrEnum):
    """Why a file cannot serve as a CA file (values are form error keys)."""

    UNREADABLE = "ca_file_unreadable"  # missing, or not permitted
    INVALID = "ca_file_invalid"  # a special file, too large, or no certificate in it


def check_ca_file(path: str) -> CaFileProblem | None:
    """Whether `path` holds CA certificates this probe can use (blocking)."""
    try:
        data = read_bounded(path)
    except NotARegularFileError, FileTooLargeError, IsADirectoryError:
        return CaFileProblem.INVALID
    except OSError:
        return CaFileProblem.UNREADABLE
    return None if _ca_certificates(data) else CaFileProblem.INVALID


def _ca_certificates(data: bytes) -> list[x509.Certificate]:
    try:
        with warnings.catch_warnings():
            # certifi and real-world files hold a few certificates with non-positive serials.
            warnings.simplefilter("ignore")
            if b"-----BEGIN" in data:
                return x509.load_pem_x509_certificates(data)
            return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return []
