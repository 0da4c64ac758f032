"""The alert blueprint runs in a real automation and says what happened."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import shutil

from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

BLUEPRINT = Path(__file__).parent.parent / "blueprints/automation/tls_health/certificate_alert.yaml"


async def test_blueprint_notifies_on_expiry_and_verdict(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)
    folder = tmp_path / "blueprints/automation/tls_health"
    folder.mkdir(parents=True)
    shutil.copy(BLUEPRINT, folder)
    hass.states.async_set("sensor.front_door_days_until_expiry", "40")
    hass.states.async_set("sensor.front_door_handshake", "ok")
    messages: list[str] = []

    def record(event: Event) -> None:
        messages.append(" ".join(event.data["message"].split()))

    hass.bus.async_listen("tls_health_test_alert", record)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "tls_health/certificate_alert.yaml",
                    "input": {
                        "days_sensor": "sensor.front_door_days_until_expiry",
                        "handshake_sensor": "sensor.front_door_handshake",
                        "days": 10,
                        "notify_action": [
                            {
                                "event": "tls_health_test_alert",
                                "event_data": {"message": "{{ message }}"},
                            }
                        ],
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()

    hass.states.async_set("sensor.front_door_days_until_expiry", "12")
    await hass.async_block_till_done()
    assert messages == []
    hass.states.async_set("sensor.front_door_days_until_expiry", "9")
    await hass.async_block_till_done()
    assert messages == ["sensor.front_door_days_until_expiry: certificate expires in 9 days."]

    hass.states.async_set("sensor.front_door_handshake", "incomplete_chain")
    await hass.async_block_till_done()
    assert len(messages) == 1  # not before five minutes
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert (
        messages[1]
        == "sensor.front_door_handshake: TLS handshake is now incomplete_chain (was ok)."
    )

    hass.states.async_set("sensor.front_door_handshake", "ok")
    hass.states.async_set("sensor.front_door_handshake", "unavailable")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=12))
    await hass.async_block_till_done()
    assert len(messages) == 2
