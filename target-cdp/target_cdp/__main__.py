"""Run target-cdp with ``python -m target_cdp``."""

from target_cdp.target import TargetCDP

TargetCDP.cli()
