"""The control API refuses web pages: foreign origins (403) and writes that are not JSON (415);
so do the write routes of the sandbox's Pipedrive API (its token is a public constant).

It has no token, so without these checks any page open in a browser on the same machine could
delete sandbox records with a no-CORS ``fetch`` (a text/plain POST needs no preflight).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pipedrive_sandbox import control_guard
from pipedrive_sandbox.app import build_router
from pipedrive_sandbox.routing import Route
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from sandbox_helpers import ANCHOR


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningSandbox]:
    with start_sandbox(seed=11, scale=300, anchor=ANCHOR, burst_limit=0, frozen_clock=True) as sb:
        yield sb


def _control(sandbox: RunningSandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.base_url}/_sandbox{path}", timeout=30, **kwargs)


def _live_person_id(sandbox: RunningSandbox) -> int:
    return sandbox.control.dataset("persons", include_deleted=False)[0]["id"]


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "https://127.0.0.1.evil.example", "http://127.0.0.1"]
)
def test_a_foreign_origin_cannot_delete_a_record(guarded: RunningSandbox, origin: str) -> None:
    person_id = _live_person_id(guarded)
    response = _control(
        guarded, "DELETE", f"/records/persons/{person_id}", headers={"Origin": origin}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["ok"] is False
    assert f"Origin '{origin}'" in body["error"]
    assert guarded.base_url in body["error"]
    assert guarded.control.get("persons", person_id)["is_deleted"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/records/persons", None),
        ("GET", "/stats", None),
        ("POST", "/stats/reset", None),
        ("POST", "/faults", {"server_error": {"every": 1}}),
        ("POST", "/clock/advance", {"seconds": 3600}),
    ],
)
def test_a_foreign_origin_is_refused_on_every_endpoint(
    guarded: RunningSandbox, method: str, path: str, body: dict | None
) -> None:
    now = guarded.control.now()
    response = _control(guarded, method, path, json=body, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert guarded.control.now() == now
    assert _control(guarded, "GET", "/faults").json() == {}


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("POST", "text/plain"),
        ("POST", "text/plain;charset=UTF-8"),
        ("POST", "application/x-www-form-urlencoded"),
        ("POST", "multipart/form-data; boundary=x"),
        ("POST", None),
        ("PATCH", "text/plain"),
        ("PUT", "text/plain"),
    ],
)
def test_a_write_that_is_not_json_is_refused(
    guarded: RunningSandbox, method: str, content_type: str | None
) -> None:
    """The body is valid JSON; only its declared type is wrong (what a no-CORS page sends)."""
    person_id = _live_person_id(guarded)
    path = "/records/persons" if method == "POST" else f"/records/persons/{person_id}"
    before = guarded.control.dataset("persons")
    headers = {"Content-Type": content_type} if content_type else {}
    response = _control(
        guarded, method, path, data=b'{"fields": {"name": "Mallory"}}', headers=headers
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert "application/json" in error
    assert (f"'{content_type}'" if content_type else "no Content-Type") in error
    assert guarded.control.dataset("persons") == before


def test_a_bodyless_write_without_content_type_is_served(guarded: RunningSandbox) -> None:
    """Nothing to misread: DELETE and POST .../reset without a body, as requests sends them."""
    person_id = _live_person_id(guarded)
    response = _control(guarded, "DELETE", f"/records/persons/{person_id}")
    assert response.status_code == 200
    assert "Content-Type" not in response.request.headers
    assert response.json()["data"]["is_deleted"] is True
    assert _control(guarded, "POST", "/stats/reset").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_sandbox_own_origin_and_json_writes_are_served(
    guarded: RunningSandbox, host: str
) -> None:
    port = guarded.base_url.rsplit(":", 1)[1]
    response = _control(
        guarded,
        "POST",
        "/records/persons",
        data=b'{"fields": {"name": "Own Origin"}}',
        headers={
            "Origin": f"http://{host}:{port}",
            "Content-Type": "application/json; charset=utf-8",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Own Origin"


# -- the sandbox's Pipedrive API: its token is a public constant, so its writes are guarded too

KINDS = ("persons", "organizations", "deals", "activities", "notes")
WRITE_ROUTES = [
    route for route in build_router().routes if route.method in control_guard.WRITE_METHODS
]


def _api_write_url(sandbox: RunningSandbox, route: Route) -> str:
    """The route's URL with a live record of its kind (or webhook 1) as ``{id}``."""
    kind = next((k for k in KINDS if route.template.startswith(f"/{k}")), None)
    record_id = _live_ids(sandbox, kind)[0] if kind else 1
    path = route.template.replace("{id}", str(record_id))
    return f"{sandbox.base_url}/api/{route.version}{path}?api_token={sandbox.api_token}"


def _live_ids(sandbox: RunningSandbox, kind: str) -> list[int]:
    return [row["id"] for row in sandbox.control.dataset(kind, include_deleted=False)]


def _everything(sandbox: RunningSandbox) -> tuple[object, ...]:
    webhooks = requests.get(
        f"{sandbox.base_url}/api/v1/webhooks",
        headers={"x-api-token": sandbox.api_token},
        timeout=30,
    ).json()["data"]
    return (*(sandbox.control.dataset(kind) for kind in KINDS), webhooks)


# what a page would send: a body each route accepts as JSON, declared as text/plain
PLANTED = (
    b'{"name": "Planted", "content": "Planted", "subject": "Planted", "title": "Planted", '
    b'"merge_with_id": 2, "subscription_url": "http://evil.example/hook", '
    b'"event_action": "*", "event_object": "*"}'
)


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=lambda route: route.operation)
def test_a_web_page_cannot_write_through_the_api(guarded: RunningSandbox, route: Route) -> None:
    """Every write route, merges and webhooks included: a foreign Origin is refused (403), a
    body not declared JSON (415), and nothing changes."""
    before = _everything(guarded)
    url = _api_write_url(guarded, route)
    page = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    foreign = requests.request(route.method, url, data=PLANTED, headers=page, timeout=30)
    assert foreign.status_code == 403, foreign.text
    assert foreign.json()["success"] is False
    assert "Origin 'http://evil.example'" in foreign.json()["error"]
    text = {"Content-Type": "text/plain"}
    plain = requests.request(route.method, url, data=PLANTED, headers=text, timeout=30)
    assert plain.status_code == 415, plain.text
    assert "Content-Type 'text/plain'" in plain.json()["error"]
    assert _everything(guarded) == before
    assert guarded.api_token not in foreign.text + plain.text


def test_the_api_still_takes_json_writes_and_reads_from_anywhere(
    guarded: RunningSandbox,
) -> None:
    """Servers send no Origin; reads stay open (a page cannot read a cross-origin answer)."""
    url = f"{guarded.base_url}/api/v2/persons?api_token={guarded.api_token}"
    created = requests.post(url, json={"name": "Server-side"}, timeout=30)
    assert created.status_code == 200, created.text
    person_id = created.json()["data"]["id"]
    assert guarded.control.get("persons", person_id)["name"] == "Server-side"
    read = requests.get(url, headers={"Origin": "http://evil.example"}, timeout=30)
    assert read.status_code == 200
