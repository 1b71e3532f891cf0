"""Who may use the view: listen address policy, password check, CSRF tokens. Pure functions.

- The view listens on 127.0.0.1 unless told otherwise; any other address needs a password.
- With a password, every request must carry it: HTTP Basic (any user name, the browser asks)
  or ``Authorization: Bearer <password>`` for scripts. Compared in constant time.
- Forms carry a CSRF token: a random value set in a SameSite=Strict cookie and repeated in a
  hidden field (double submit). A POST whose field does not match its cookie is refused.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets

CSRF_COOKIE = "cdp_view_csrf"
CSRF_FIELD = "csrf_token"
LOOPBACK_NAMES = frozenset({"localhost"})


class UnsafeListenError(ValueError):
    """Listening on a non-loopback address without a password."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, password: str | None) -> None:
    """Refuse to listen beyond this machine without a password."""
    if not is_loopback(host) and not password:
        msg = (
            f"cdp-view refuses to listen on {host} without a password: set the cdp-view "
            "setting `password` (CDP_VIEW_PASSWORD in .env) or listen on 127.0.0.1"
        )
        raise UnsafeListenError(msg)


def authorized(header: str | None, password: str | None) -> bool:
    """Whether an ``Authorization`` header carries the password (always true without one)."""
    if not password:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    supplied = ""
    if scheme.lower() == "bearer":
        supplied = value.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        supplied = decoded.partition(":")[2]
    return secrets.compare_digest(supplied.encode(), password.encode())


def new_csrf_token() -> str:
    """A fresh random token for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_valid(cookie: str | None, field: str | None) -> bool:
    """Whether the form repeats the cookie's token."""
    if not cookie or not field:
        return False
    return secrets.compare_digest(cookie.encode(), field.encode())
