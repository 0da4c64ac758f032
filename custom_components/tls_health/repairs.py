"""Fix flows: a renewed certificate is served after Home Assistant restarts."""

from __future__ import annotations

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant

from .own_tls import STALE


class RestartToServeRenewedCertificate(ConfirmRepairFlow):
    """Confirm, then restart Home Assistant so its listener loads the renewed file."""

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Restart once the user confirms."""
        if user_input is not None:
            await self.hass.services.async_call("homeassistant", "restart")
        return await super().async_step_confirm(user_input)


async def async_create_fix_flow(
    hass: HomeAssistant,  # noqa: ARG001
    issue_id: str,
    data: dict[str, str | int | float | None] | None,  # noqa: ARG001
) -> RepairsFlow:
    """Only the stale certificate has a fix flow."""
    if issue_id != STALE:
        raise ValueError(issue_id)
    return RestartToServeRenewedCertificate()
