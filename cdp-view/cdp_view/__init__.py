"""cdp-view: the Pipedrive data source of a target-cdp CDP, seen and configured in a browser."""
