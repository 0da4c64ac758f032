"""Constants of TLS Health."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "tls_health"
LOGGER = logging.getLogger(__package__)

CONF_URL: Final = "url"
CONF_SERVER_NAME: Final = "server_name"
CONF_ADDRESS: Final = "address"
CONF_CA_FILE: Final = "ca_file"
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_WARNING_DAYS: Final = "warning_days"
CONF_CRITICAL_DAYS: Final = "critical_days"
CONF_SCAN_LEGACY: Final = "scan_legacy"
CONF_CERTIFICATE_FILE: Final = "certificate_file"
CONF_LEADS_HERE: Final = "leads_to_home_assistant"
CONF_CHECK_REVOCATION: Final = "check_revocation"
CONF_CHECK_RENEWAL_INFO: Final = "check_renewal_info"
CONF_ACME_DIRECTORY: Final = "acme_directory"

DEFAULT_SCAN_INTERVAL_MINUTES: Final = 60
MIN_SCAN_INTERVAL_MINUTES: Final = 1
MAX_SCAN_INTERVAL_MINUTES: Final = 7 * 24 * 60
DEFAULT_WARNING_DAYS: Final = 14
DEFAULT_CRITICAL_DAYS: Final = 7
DEFAULT_SCAN_LEGACY: Final = True
# Both ask the CA about the certificate; a CA that offers neither leaves the result unknown.
DEFAULT_CHECK_REVOCATION: Final = True
DEFAULT_CHECK_RENEWAL_INFO: Final = True

PROBE_TIMEOUT: Final = 10.0
# A finding seen once is re-checked this soon instead of waiting a whole interval.
RECHECK_INTERVAL: Final = timedelta(minutes=1)
