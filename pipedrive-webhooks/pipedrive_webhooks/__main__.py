"""``python -m pipedrive_webhooks`` = the ``pipedrive-webhooks`` command."""

from pipedrive_webhooks.cli import main

main()
