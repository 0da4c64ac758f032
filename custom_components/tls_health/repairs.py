"""Fix flows of the repairs the catalogue marks fixable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant

from . import catalogue as c


class RestartToServeRenewedCertificate(ConfirmRepairFlow):
    """Confirm, then restart Home Assistant so its listener loads the renewed file."""

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Restart once the user confirms."""
        if user_input is not None:
            await self.hass.services.async_call("homeassistant", "restart")
        return await super().async_step_confirm(user_input)


FIX_FLOWS: Final[Mapping[str, Callable[[], RepairsFlow]]] = {
    c.STALE_CERTIFICATE.key: RestartToServeRenewedCertificate,
}


async def async_create_fix_flow(
    hass: HomeAssistant,  # noqa: ARG001
    issue_id: str,
    data: dict[str, str | int | float | None] | None,  # noqa: ARG001
) -> RepairsFlow:
    """Start the fix flow of a fixable repair."""
    repair = c.repair_of_issue(issue_id)
    if repair is None or not repair.fixable:
        raise ValueError(issue_id)
    return FIX_FLOWS[repair.key]()
