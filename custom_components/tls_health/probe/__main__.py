"""`python -m custom_components.tls_health.probe URL [options]`; see scripts/probe."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
