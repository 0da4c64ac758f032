"""Turn what a user types (URL or host[:port]) into a Target."""

from __future__ import annotations

from urllib.parse import urlsplit

import idna

from .models import Target, is_ip_address
from .protocols import WELL_KNOWN_PORTS, AppProtocol

MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63


class InvalidTargetError(ValueError):
    """The text is not a usable URL or host[:port]; the message is the reason key."""


SCHEME_ALIASES = {"postgresql": AppProtocol.POSTGRES}


def parse_target(
    text: str,
    *,
    server_name: str | None = None,
    address: str | None = None,
    ca_file: str | None = None,
) -> Target:
    """Parse `scheme://host[:port][/path]`, `host[:port]`, `[v6]:port` or a bare IPv6 literal.

    The scheme names the protocol (https, tls, mqtts, smtps, smtp, imaps, imap, pop3s, pop3,
    ldaps, ldap, postgres); without one, a well-known port picks it, and HTTPS is the default.
    """
    host, port, protocol = _host_port_protocol(text)
    return Target(
        host=host,
        port=port,
        protocol=protocol,
        server_name=_server_name(server_name),
        address=_address(address),
        ca_file=(ca_file or "").strip() or None,
    )


def _host_port_protocol(text: str) -> tuple[str, int, AppProtocol]:
    text = text.strip()
    if not text:
        raise InvalidTargetError("empty")
    if "://" not in text:
        text = f"//{text}" if not _bare_ipv6(text) else f"//[{text}]"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise InvalidTargetError(
            "invalid_port" if "port" in str(err).lower() else "invalid_url"
        ) from err
    if parts.password is not None:
        raise InvalidTargetError("url_has_credentials")  # never stored, never logged
    protocol = _protocol(parts.scheme.lower(), port)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidTargetError("invalid_url")
    if port == 0:
        raise InvalidTargetError("invalid_port")
    host = host if is_ip_address(host) else _idna(host)
    return host, port or protocol.spec.port, protocol


def _protocol(scheme: str, port: int | None) -> AppProtocol:
    if not scheme:
        return WELL_KNOWN_PORTS.get(port or 0, AppProtocol.HTTPS)
    if (alias := SCHEME_ALIASES.get(scheme)) is not None:
        return alias
    try:
        return AppProtocol(scheme)
    except ValueError:
        raise InvalidTargetError("not_https") from None


def _address(address: str | None) -> str | None:
    """Return the pinned IP address without brackets; None when empty."""
    if address is None:
        return None
    address = address.strip().strip("[]") or None
    if address is not None and not is_ip_address(address):
        raise InvalidTargetError("invalid_address")
    return address


def _server_name(server_name: str | None) -> str | None:
    name = (server_name or "").strip().rstrip(".") or None
    if name is None or is_ip_address(name):
        return name
    return _idna(name, error="invalid_server_name")


def _bare_ipv6(text: str) -> bool:
    return text.count(":") > 1 and not text.startswith("[")


def _idna(host: str, error: str = "invalid_host") -> str:
    """Lower-case A-label form of a DNS name (IDNA 2008 with UTS 46 mapping, as browsers do)."""
    if host.isascii():
        ascii_host = host.lower()
    else:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as err:
            raise InvalidTargetError(error) from err
    labels = ascii_host.split(".")
    if len(ascii_host) > MAX_HOST_LENGTH or not all(
        label
        and len(label) <= MAX_LABEL_LENGTH
        and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    ):
        raise InvalidTargetError(error)
    return ascii_host
