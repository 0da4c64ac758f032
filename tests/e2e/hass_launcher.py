"""Start Home Assistant as `python -m homeassistant` does, with a shorter trial for HTTP settings.

Home Assistant reverts saved HTTP settings that nobody confirmed `AUTO_REVERT_DELAY` (5 minutes)
after the start that tried them. With `TLS_HEALTH_E2E_REVERT_AFTER_SECONDS` in the environment,
that constant is set before Home Assistant starts; nothing else changes.
"""

from __future__ import annotations

from datetime import timedelta
import os
import sys

from homeassistant import __main__ as home_assistant
from homeassistant.components.http import config as http_config

REVERT_AFTER_SECONDS = "TLS_HEALTH_E2E_REVERT_AFTER_SECONDS"

if __name__ == "__main__":
    if seconds := os.environ.get(REVERT_AFTER_SECONDS):
        http_config.AUTO_REVERT_DELAY = timedelta(seconds=float(seconds))  # type: ignore[misc]
    sys.exit(home_assistant.main())
