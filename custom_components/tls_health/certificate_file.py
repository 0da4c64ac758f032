"""The certificate file an endpoint's server should serve, read bounded in the executor."""

from __future__ import annotations

import asyncio
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from homeassistant.core import HomeAssistant

from .findings import FileCertificate
from .probe import read_bounded

READ_TIMEOUT: Final = 10.0


def read_file_certificate(path: str) -> FileCertificate:
    """Read the first certificate of a PEM file (blocking: run it in the executor).

    Raises OSError when the file cannot be read and ValueError when it holds no certificate.
    """
    certificate = x509.load_pem_x509_certificates(read_bounded(path))[0]
    return FileCertificate(
        path=path,
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


async def async_read_file_certificate(
    hass: HomeAssistant, path: str
) -> tuple[FileCertificate, str]:
    """Read the file's certificate; on failure a FileCertificate without one, and why."""
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            return await hass.async_add_executor_job(read_file_certificate, path), ""
    except TimeoutError:
        return FileCertificate(path), f"not read within {READ_TIMEOUT:g} s"
    except OSError as err:
        return FileCertificate(path), err.strerror or type(err).__name__
    except ValueError:
        return FileCertificate(path), "no PEM certificate in it"
