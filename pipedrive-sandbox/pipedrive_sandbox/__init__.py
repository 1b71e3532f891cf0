"""pipedrive-sandbox."""
