"""tap-pipedrive."""
