"""Errors reported to the user as one line (kept apart from ``pipedrive_api.py``, which loads
tap-pipedrive, so ``cli.py`` can catch them without importing it)."""

from __future__ import annotations


class PipedriveApiError(Exception):
    """A request Pipedrive refused or that failed; one line, no secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Remember Pipedrive's HTTP status, if it answered."""
        super().__init__(message)
        self.status = status
