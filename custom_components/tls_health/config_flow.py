"""Config, reconfigure, discovery and options flows of TLS Health."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol
from yarl import URL

from .certificate_file import async_read_file_certificate
from .const import (
    CONF_ACME_DIRECTORY,
    CONF_ADDRESS,
    CONF_CA_FILE,
    CONF_CERTIFICATE_FILE,
    CONF_CHECK_RENEWAL_INFO,
    CONF_CHECK_REVOCATION,
    CONF_CRITICAL_DAYS,
    CONF_LEADS_HERE,
    CONF_SCAN_INTERVAL,
    CONF_SCAN_LEGACY,
    CONF_SERVER_NAME,
    CONF_URL,
    CONF_WARNING_DAYS,
    DEFAULT_CHECK_RENEWAL_INFO,
    DEFAULT_CHECK_REVOCATION,
    DEFAULT_CRITICAL_DAYS,
    DEFAULT_SCAN_INTERVAL_MINUTES,
    DEFAULT_SCAN_LEGACY,
    DEFAULT_WARNING_DAYS,
    DOMAIN,
    MAX_SCAN_INTERVAL_MINUTES,
    MIN_SCAN_INTERVAL_MINUTES,
    PROBE_TIMEOUT,
)
from .discovery import CONF_SERVICE
from .endpoint import entry_target, title_of, unique_id_of
from .options import default_scan_legacy
from .probe import InvalidTargetError, ProbeOptions, Target, Verdict, check_ca_file
from .prober import async_get_prober

SECTION_ADVANCED = "advanced"
# Whether the endpoint answers TLS at all: its certificate is judged, nothing else is probed
# and no CA is asked before the user has seen the options.
HANDSHAKE_ONLY = ProbeOptions(
    timeout=PROBE_TIMEOUT,
    scan_legacy=False,
    check_http=False,
    check_revocation=False,
    check_renewal_info=False,
)
URL_ERRORS = frozenset(
    {"empty", "invalid_url", "invalid_host", "invalid_port", "not_https", "url_has_credentials"}
)
ADVANCED_KEYS = (CONF_SERVER_NAME, CONF_ADDRESS, CONF_CA_FILE)
MAX_URL_LENGTH = 2000

# Verdicts that mean nothing answered TLS: the entry is not created. Certificate problems are.
UNREACHED_ERRORS: Mapping[Verdict, str] = {
    Verdict.DNS_FAILURE: "cannot_resolve",
    Verdict.CONNECTION_REFUSED: "connection_refused",
    Verdict.TIMEOUT: "timeout",
    Verdict.NETWORK_UNREACHABLE: "network_unreachable",
    Verdict.HANDSHAKE_FAILED: "not_tls",
    Verdict.STARTTLS_NOT_OFFERED: "starttls_not_offered",
    Verdict.PLAINTEXT_ON_TLS_PORT: "plaintext_on_tls_port",
}


def endpoint_schema(defaults: Mapping[str, Any]) -> vol.Schema:
    """URL first; SNI name, pinned address and CA file in a section, open when one is set."""
    return vol.Schema(
        {
            vol.Required(CONF_URL): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
            vol.Required(SECTION_ADVANCED): section(
                vol.Schema({vol.Optional(key): TextSelector() for key in ADVANCED_KEYS}),
                {"collapsed": not any(defaults.get(key) for key in ADVANCED_KEYS)},
            ),
        }
    )


def flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data from form input: URL and the non-empty values of the advanced section."""
    data = {CONF_URL: user_input[CONF_URL].strip()}
    for key, value in user_input.get(SECTION_ADVANCED, {}).items():
        if value and str(value).strip():
            data[key] = str(value).strip()
    return data


def nested(data: Mapping[str, Any]) -> dict[str, Any]:
    """Form defaults from entry data."""
    return {**data, SECTION_ADVANCED: {key: data[key] for key in ADVANCED_KEYS if key in data}}


class TlsHealthConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an HTTPS endpoint to watch."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered_url = ""
        self._discovered_service = ""

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> TlsHealthOptionsFlow:
        return TlsHealthOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the endpoint, probe it, and create the entry."""
        errors: dict[str, str] = {}
        defaults: Mapping[str, Any] = {}
        if user_input is not None:
            data = flatten(user_input)
            target, errors = await self._async_validate(data)
            if target is not None:
                await self.async_set_unique_id(unique_id_of(target))
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=title_of(target), data=data)
            defaults = data
        elif (url := self.hass.config.external_url) and url.startswith("https://"):
            defaults = {CONF_URL: url}
        return self._show_endpoint_form("user", defaults, errors)

    async def async_step_integration_discovery(
        self, discovery_info: dict[str, Any]
    ) -> ConfigFlowResult:
        """HA's own https URL, or a TLS service HA talks to, that nothing watches yet."""
        target = entry_target({CONF_URL: discovery_info[CONF_URL]})
        await self.async_set_unique_id(unique_id_of(target))
        self._abort_if_unique_id_configured()
        self._discovered_url = discovery_info[CONF_URL]
        self.context["title_placeholders"] = {"name": title_of(target)}
        if service := discovery_info.get(CONF_SERVICE):
            self._discovered_service = str(service)
            return await self.async_step_service_confirm()
        return await self.async_step_discovery_confirm()

    async def async_step_service_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer to watch a TLS service another part of Home Assistant connects to."""
        return await self._async_confirm(
            "service_confirm",
            user_input,
            {"url": self._discovered_url, "service": self._discovered_service},
        )

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer to watch this Home Assistant's address."""
        return await self._async_confirm(
            "discovery_confirm", user_input, {"url": self._discovered_url}
        )

    async def _async_confirm(
        self, step_id: str, user_input: dict[str, Any] | None, placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        data = {CONF_URL: self._discovered_url}
        errors: dict[str, str] = {}
        if user_input is not None:
            target, errors = await self._async_validate(data)
            if target is not None:
                return self.async_create_entry(title=title_of(target), data=data)
        return self.async_show_form(
            step_id=step_id, description_placeholders=placeholders, errors=errors
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the URL, SNI name, pinned address or CA file of an endpoint."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        defaults: Mapping[str, Any] = entry.data
        if user_input is not None:
            data = flatten(user_input)
            target, errors = await self._async_validate(data)
            if target is not None:
                await self.async_set_unique_id(unique_id_of(target))
                if self.unique_id != entry.unique_id:
                    self._abort_if_unique_id_configured()
                return self.async_update_reload_and_abort(
                    entry, title=title_of(target), data=data, unique_id=self.unique_id
                )
            defaults = data
        return self._show_endpoint_form("reconfigure", defaults, errors)

    def _show_endpoint_form(
        self, step_id: str, defaults: Mapping[str, Any], errors: dict[str, str]
    ) -> ConfigFlowResult:
        """Show the endpoint form, pre-filled with what the user typed or the entry holds."""
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                endpoint_schema(defaults), nested(defaults)
            ),
            errors=errors,
        )

    async def _async_validate(
        self, data: Mapping[str, Any]
    ) -> tuple[Target | None, dict[str, str]]:
        """Parse and probe once; errors are form errors keyed by field."""
        try:
            target = entry_target(data)
        except InvalidTargetError as err:
            # The advanced section's fields cannot carry their own error: those go to "base".
            return None, {CONF_URL if str(err) in URL_ERRORS else "base": str(err)}
        if target.ca_file is not None and (
            problem := await self.hass.async_add_executor_job(check_ca_file, target.ca_file)
        ):
            return None, {"base": problem.value}
        prober = await async_get_prober(self.hass)
        report = await prober.probe(target, HANDSHAKE_ONLY)
        if (error := UNREACHED_ERRORS.get(report.verdict)) is not None:
            return None, {"base": error}
        return target, {}


def _days() -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=0, max=365, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="d"
        )
    )


OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SCAN_INTERVAL, default=DEFAULT_SCAN_INTERVAL_MINUTES): NumberSelector(
            NumberSelectorConfig(
                min=MIN_SCAN_INTERVAL_MINUTES,
                max=MAX_SCAN_INTERVAL_MINUTES,
                step=1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="min",
            )
        ),
        vol.Required(CONF_WARNING_DAYS, default=DEFAULT_WARNING_DAYS): _days(),
        vol.Required(CONF_CRITICAL_DAYS, default=DEFAULT_CRITICAL_DAYS): _days(),
        vol.Required(CONF_SCAN_LEGACY, default=DEFAULT_SCAN_LEGACY): bool,
        vol.Required(CONF_CHECK_REVOCATION, default=DEFAULT_CHECK_REVOCATION): bool,
        vol.Required(CONF_CHECK_RENEWAL_INFO, default=DEFAULT_CHECK_RENEWAL_INFO): bool,
        vol.Optional(CONF_ACME_DIRECTORY): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        vol.Optional(CONF_CERTIFICATE_FILE): TextSelector(),
    }
)
# Only an HTTPS URL can lead to this Home Assistant.
HTTPS_OPTIONS_SCHEMA = OPTIONS_SCHEMA.extend({vol.Required(CONF_LEADS_HERE, default=False): bool})


def acme_directory_valid(value: str) -> bool:
    """Whether a directory URL can be asked: https (RFC 8555 requires it), a host, no password."""
    if len(value) > MAX_URL_LENGTH or any(character.isspace() for character in value):
        return False
    try:
        url = URL(value)
    except ValueError:
        return False
    return url.scheme == "https" and bool(url.host) and url.user is None and url.password is None


class TlsHealthOptionsFlow(OptionsFlowWithReload):
    """Check interval, expiry thresholds, the legacy protocol scan and what the CA is asked."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            certificate_file = str(user_input.pop(CONF_CERTIFICATE_FILE, "") or "").strip()
            if certificate_file:
                user_input[CONF_CERTIFICATE_FILE] = certificate_file
            acme_directory = str(user_input.pop(CONF_ACME_DIRECTORY, "") or "").strip()
            if acme_directory:
                user_input[CONF_ACME_DIRECTORY] = acme_directory
            if user_input[CONF_CRITICAL_DAYS] > user_input[CONF_WARNING_DAYS]:
                errors[CONF_CRITICAL_DAYS] = "critical_after_warning"
            elif acme_directory and not acme_directory_valid(acme_directory):
                errors[CONF_ACME_DIRECTORY] = "acme_directory_invalid"
            elif (
                certificate_file
                and (await async_read_file_certificate(self.hass, certificate_file))[1]
            ):
                errors[CONF_CERTIFICATE_FILE] = "certificate_file_invalid"
            else:
                return self.async_create_entry(
                    data={
                        **user_input,
                        CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                        CONF_WARNING_DAYS: int(user_input[CONF_WARNING_DAYS]),
                        CONF_CRITICAL_DAYS: int(user_input[CONF_CRITICAL_DAYS]),
                    }
                )

        # The legacy scan's default depends on the protocol: on for HTTPS only.
        protocol = entry_target(self.config_entry.data).protocol
        suggested = {CONF_SCAN_LEGACY: default_scan_legacy(protocol), **self.config_entry.options}
        schema = HTTPS_OPTIONS_SCHEMA if protocol.spec.http else OPTIONS_SCHEMA
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or suggested),
            errors=errors,
            description_placeholders={"endpoint": self.config_entry.title},
        )
