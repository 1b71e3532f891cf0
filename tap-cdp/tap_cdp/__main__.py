"""Run tap-cdp with ``python -m tap_cdp``."""

from tap_cdp.tap import TapCDP

TapCDP.cli()
