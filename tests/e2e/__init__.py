"""End-to-end tests against a real `hass` process."""
