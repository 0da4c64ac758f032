"""Names a certificate is valid for, matched as clients do (RFC 6125)."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from .certificates import common_name, has_san, san_values

# Names that mark a certificate nobody issued on purpose: defaults of proxies and appliances.
PLACEHOLDER_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "traefik default cert",
        "kubernetes ingress controller fake certificate",
    }
)


def certificate_names(cert: x509.Certificate) -> list[str]:
    """Names the certificate is valid for: its SANs, or its CN when it has no SAN extension."""
    if has_san(cert):
        return [str(value) for value in san_values(cert)]
    name = common_name(cert)
    return [name] if name else []


def matches_name(cert: x509.Certificate, expected: str) -> bool:
    """Whether `expected` (DNS name or IP literal) is covered by the certificate."""
    try:
        expected_ip = ipaddress.ip_address(expected)
    except ValueError:
        expected_ip = None
    if expected_ip is not None:
        return any(value == expected_ip for value in san_values(cert))
    if has_san(cert):
        patterns = [value for value in san_values(cert) if isinstance(value, str)]
    else:
        patterns = [name] if (name := common_name(cert)) else []
    host = expected.rstrip(".").lower()
    return any(_dns_match(pattern.rstrip(".").lower(), host) for pattern in patterns)


def _dns_match(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    first, _, rest = pattern.partition(".")
    # Only a whole left-most label, over at least two more labels, matching exactly one label.
    if first != "*" or "*" in rest or rest.count(".") < 1:
        return False
    label, _, host_rest = host.partition(".")
    return bool(label) and host_rest == rest
