"""Pipedrive's error envelopes (docs ``core-api-concepts-responses``; spec v1 ``/users/me`` 401)."""

from __future__ import annotations

from typing import Any

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class ApiError(Exception):
    """An error answered with Pipedrive's generic error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """``{"success": false, "error", "error_info", "data": null, "additional_data": null}``."""
        return error_body(self.message)


class BadRequestError(ApiError):
    """400 naming the offending parameter or field."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class NotFoundError(ApiError):
    """404 for an unknown entity id."""

    def __init__(self, message: str = "Entity was not found") -> None:
        super().__init__(404, message)


def error_body(message: str) -> dict[str, Any]:
    """The generic error envelope."""
    return {
        "success": False,
        "error": message,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }


# Pipedrive's API proxy, for an OAuth token without the operation's scope (notes section 7).
SCOPE_MISMATCH = "Scope and URL mismatch"
UNAUTHORIZED_BODY = {"success": False, "error": "unauthorized access", "errorCode": 401}
