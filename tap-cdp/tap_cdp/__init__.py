"""tap-cdp: a Singer tap reading the CDP that target-cdp and the dbt audiences build."""
