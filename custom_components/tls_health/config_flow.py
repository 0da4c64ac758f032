"""Config flow of TLS Health."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
import probatio as vol

from .const import CONF_URL, DOMAIN
from .probe.target import InvalidTargetError, parse_target


class TlsHealthConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an HTTPS endpoint to watch."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the endpoint."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                target = parse_target(user_input[CONF_URL])
            except InvalidTargetError as err:
                errors[CONF_URL] = str(err)
            else:
                await self.async_set_unique_id(f"{target.host}:{target.port}:{target.sni or ''}")
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"{target.host}:{target.port}", data={CONF_URL: user_input[CONF_URL]}
                )
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema({vol.Required(CONF_URL): str}),
            errors=errors,
        )
