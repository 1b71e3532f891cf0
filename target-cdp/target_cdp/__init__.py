"""target-cdp."""
