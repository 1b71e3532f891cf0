"""target-pipedrive: declared actions on Pipedrive for incoming records, exactly once."""
