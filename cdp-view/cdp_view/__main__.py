"""``python -m cdp_view``."""

from cdp_view.cli import main

main()
