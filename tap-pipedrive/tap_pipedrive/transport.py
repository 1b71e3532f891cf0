"""The HTTP session every Pipedrive call goes through, and network failures told in words.

* **Credentials stay on their host.** requests follows redirects and, when one leads to another
  host, strips only the ``Authorization`` header: the ``x-api-token`` header would go along, and
  a 307/308 to the OAuth token endpoint would resend the refresh token in its body.
  :class:`GuardedSession` refuses, before anything is sent, every redirect after which requests
  itself would drop credentials: another host, another port, or another scheme (https to http
  included); only http to https on the default ports is followed, as requests allows.
* **Timeouts.** A connection gets ``connect_timeout`` seconds, an answer ``request_timeout``:
  a wrong ``api_url`` fails in seconds instead of waiting out a long read timeout per attempt.
  A request whose answer timed out ``MAX_READ_TIMEOUTS`` times in a row is given up
  (:class:`Attempts`) whatever ``max_retries`` allows: a server that accepted the connection and
  never answered three times is down, and more attempts would only add minutes of silence.
* **Wrong addresses fail at once.** A refused connection or a host name that does not exist
  is not retried (:func:`is_wrong_address`): the address is wrong, and a minute of backoff
  would only delay saying so. Timeouts and dropped connections are retried.
* **Words.** requests reports a network failure as a nest of urllib3 exceptions whose text is
  several lines of pool internals; :func:`network_failure` says what happened in a phrase.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError, ReadTimeoutError

from tap_pipedrive.errors import RedirectRefusedError

# An optional scheme, then everything up to the LAST "@" before the path: the credentials.
# requests (urllib3) ends the authority at the first "/", "?" or "#" and splits the userinfo off
# at its last "@", so a password may hold "@" ("p@ss"); one holding "?" or "#" is not sent as a
# password, but is still one the user typed, so the mask runs to the first "/" (never less than
# requests' userinfo). Percent-encoded characters ("%40") need nothing more: they hold no "@".
MAX_READ_TIMEOUTS = 3

_USERINFO = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*://)?[^/]*@")


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, without any ``user:password@``."""
    return urlsplit(url).netloc.rpartition("@")[2]


def redact_url(url: str) -> str:
    """The URL with ``user:password@`` replaced by ``***@`` (safe to print), also when it is too
    malformed to parse (``user:pass@host`` without a scheme)."""
    return _USERINFO.sub(r"\1***@", url, count=1)


def request_label(url: str, method: str = "GET") -> str:
    """``GET /api/v2/persons on api.pipedrive.com``: a request in errors, without its query."""
    return f"{method} {urlsplit(url).path} on {host_of(url)}"


class GuardedSession(requests.Session):
    """A session that never follows a redirect which would carry credentials elsewhere."""

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Refuse the redirect (before it is sent) if requests would strip credentials for it.

        Raises:
            RedirectRefusedError: naming both hosts; never a credential or a query.
        """
        old_url = response.request.url or ""
        new_url = prepared_request.url or ""
        if self.should_strip_auth(old_url, new_url):
            new = urlsplit(new_url)
            msg = (
                f"{request_label(old_url, response.request.method or 'GET')} was redirected "
                f"(HTTP {response.status_code}) to {new.scheme}://{host_of(new_url)}{new.path}; "
                "the tap does not send credentials to another host, port or scheme: set "
                "api_url (or oauth_token_url) to the address that answers"
            )
            raise RedirectRefusedError(msg)
        super().rebuild_auth(prepared_request, response)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (urllib3 nests the OS error several levels)."""
    pending: list[BaseException] = [exc]
    seen: list[BaseException] = []
    while pending:
        current = pending.pop()
        if any(current is done for done in seen):
            continue
        seen.append(current)
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(current.args)
        pending += [item for item in nested if isinstance(item, BaseException)]


def is_wrong_address(exc: BaseException) -> bool:
    """Whether a failure says the address itself is wrong (nothing listens on the port, the
    host name does not exist): no retry will change that, unlike a timeout or a dropped
    connection."""
    return any(
        isinstance(cause, ConnectionRefusedError)
        or (isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_NONAME)
        for cause in _causes(exc)
    )


def is_read_timeout(exc: BaseException) -> bool:
    """Whether the server accepted the connection and then sent no (complete) answer in time."""
    causes = list(_causes(exc))
    return not any(isinstance(c, requests.exceptions.ConnectTimeout) for c in causes) and any(
        isinstance(c, requests.exceptions.ReadTimeout | ReadTimeoutError) for c in causes
    )


class Attempts:
    """The failed attempts of one request, and when to stop retrying it before ``max_retries``:
    a wrong address at once, ``MAX_READ_TIMEOUTS`` read timeouts in a row (any other failure
    in between starts the count again; 429 and 5xx keep their ``max_retries``)."""

    def __init__(self) -> None:
        """No attempt has failed yet."""
        self.failed = 0
        self.read_timeouts_in_a_row = 0

    def give_up(self, exc: BaseException) -> bool:
        """Count a failed attempt; True if the request is not worth another one."""
        self.failed += 1
        self.read_timeouts_in_a_row = self.read_timeouts_in_a_row + 1 if is_read_timeout(exc) else 0
        return is_wrong_address(exc) or self.read_timeouts_in_a_row >= MAX_READ_TIMEOUTS


def network_failure(exc: BaseException, connect_timeout: float, read_timeout: float) -> str:
    """What went wrong on the network, in a phrase (no URL, no credential)."""
    causes = list(_causes(exc))
    phrases: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
        ((NameResolutionError, socket.gaierror), "the host name does not resolve (DNS)"),
        ((ConnectionRefusedError,), "connection refused (nothing listens on that port)"),
        (
            (requests.exceptions.ConnectTimeout,),
            f"no connection within {connect_timeout:g} s (connect_timeout)",
        ),
        (
            (requests.exceptions.ReadTimeout, TimeoutError),
            f"no answer within {read_timeout:g} s (request_timeout)",
        ),
        ((ssl.SSLCertVerificationError,), "its TLS certificate was refused"),
        ((ssl.SSLError,), "the TLS handshake failed (is it an https server?)"),
        (
            (ConnectionError, requests.exceptions.ChunkedEncodingError),
            "the connection was dropped before a complete answer",
        ),
    )
    for kinds, phrase in phrases:
        if any(isinstance(cause, kinds) for cause in causes):
            return phrase
    return type(exc).__name__
