"""``python -m pipedrive_sandbox serve ...``."""

from pipedrive_sandbox.cli import main

main()
