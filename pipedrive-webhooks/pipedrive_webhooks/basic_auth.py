"""HTTP Basic authentication of deliveries, Pipedrive's only webhook authentication.

Pipedrive sends the ``http_auth_user``/``http_auth_password`` of the subscription as an
``Authorization: Basic`` header. Both parts are compared with ``hmac.compare_digest`` and both
comparisons always run, so the answer time says nothing about how much of a guess was right.
"""

from __future__ import annotations

import base64
import binascii
import hmac


def basic_auth_ok(header: str | None, user: str, password: str) -> bool:
    """Whether an ``Authorization`` header carries exactly these Basic credentials."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, separator, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    return bool(separator) and user_ok and password_ok
