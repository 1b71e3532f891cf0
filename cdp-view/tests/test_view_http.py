"""cdp-view over HTTP: the numbers each page shows, keyset pages, auth, CSRF, no secret shown,
and pages that keep working while a sync holds the DuckDB file."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from view_helpers import BIN, PG_PASSWORD, SANDBOX_TOKEN, VIEW_PASSWORD, View, query

COUNT_SQL = """
select
  (select count(*) from cdp.people where pipedrive_person_id is not null and not is_deleted)
    as people,
  (select count(*) from cdp.organizations where pipedrive_org_id is not null and not is_deleted)
    as organizations,
  (select count(*) from cdp.deals where pipedrive_deal_id is not null and not is_deleted) as deals,
  (select count(*) from cdp.activities where source = 'pipedrive') as activities
"""


def shown_counts(html: str) -> dict[str, int]:
    found = re.findall(r'id="count-(\w+)">([\d,]+)<', html)
    return {name: int(value.replace(",", "")) for name, value in found}


def links(html: str, prefix: str) -> list[str]:
    return re.findall(rf'href="({re.escape(prefix)}[^"]+)"', html)


def test_overview_shows_the_counts_the_database_holds(duckdb_view: View, duckdb_url: str) -> None:
    with duckdb_view.client() as client:
        html = client.get("/overview").text
    (expected,) = query(duckdb_url, COUNT_SQL)
    assert shown_counts(html) == expected
    assert expected["people"] > 50
    assert expected["activities"] > 0


def test_postgresql_overview_and_feed(pg_view: View, pg_url: str) -> None:
    with pg_view.client() as client:
        overview = client.get("/overview").text
        feed = client.get("/activity").text
        audiences = client.get("/people").text
    (expected,) = query(pg_url, COUNT_SQL)
    assert shown_counts(overview) == expected
    (newest,) = query(
        pg_url,
        "select activity_type from cdp.activities order by occurred_at desc, "
        "activity_key desc limit 1",
    )
    assert re.search(
        r'class="activity"><td>[^<]+</td><td>' + re.escape(newest["activity_type"]), feed
    )
    assert "The audiences are not built yet" in audiences


def tokens_by_day(url: str) -> dict[str, tuple[int, int]]:
    """The tap's recorded (tokens, runs) per UTC day, as the database holds them."""
    days: dict[str, tuple[int, int]] = {}
    for row in query(url, "select started_at, tokens from cdp.api_usage"):
        day = row["started_at"].astimezone(dt.UTC).date().isoformat()
        tokens, runs = days.get(day, (0, 0))
        days[day] = (tokens + row["tokens"], runs + 1)
    return days


@pytest.mark.parametrize("engine", ["duckdb", "pg"])
def test_api_tokens_today_and_per_day(engine: str, request: pytest.FixtureRequest) -> None:
    view: View = request.getfixturevalue(f"{engine}_view")
    url: str = request.getfixturevalue(f"{engine}_url")
    with view.client() as client:
        details = client.get("/").text
        overview = client.get("/overview").text
    days = tokens_by_day(url)
    tokens, runs = days[dt.datetime.now(tz=dt.UTC).date().isoformat()]
    assert tokens > 0, "the fixture's syncs recorded their tokens"
    shown = re.search(r'id="tokens">([^<]+)<', details)[1]
    assert shown.startswith(f"{tokens:,} in {runs} run")
    assert 'aria-label="Pipedrive API tokens per day (UTC)"' in overview
    for day, (day_tokens, _) in days.items():
        assert f"<title>{day}: {day_tokens:,} tokens</title>" in overview


def test_activity_feed_pages_by_keyset(duckdb_view: View, duckdb_url: str) -> None:
    ordered = query(
        duckdb_url,
        "select activity_key, person_id from cdp.activities "
        "order by occurred_at desc, activity_key desc",
    )
    assert len(ordered) > 50, "the fixture must fill more than one page"
    shown: list[str] = []
    url: str | None = "/activity"
    with duckdb_view.client() as client:
        while url:
            html = client.get(url).text
            shown += re.findall(r'class="activity">', html)
            nexts = re.findall(r'href="(/activity\?[^"]+)" id="next"', html)
            if nexts:
                assert "offset" not in nexts[0]
                assert "after=" in nexts[0]
            url = nexts[0].replace("&amp;", "&") if nexts else None
        assert len(shown) == len(ordered)
        person = next(row["person_id"] for row in ordered if row["person_id"])
        filtered = client.get("/activity", params={"person": person}).text
    expected = sum(1 for row in ordered if row["person_id"] == person)
    assert len(re.findall(r'class="activity">', filtered)) == min(expected, 50)


def test_people_search_and_audiences(duckdb_view: View, duckdb_url: str) -> None:
    (someone,) = query(
        duckdb_url,
        "select person_id, email from cdp.people where email is not null "
        "and pipedrive_person_id is not null order by person_id limit 1",
    )
    sizes = query(
        duckdb_url,
        "select audience, count(*) filter (where exited_at is null) as members "
        "from audiences.audience_membership group by audience order by audience",
    )
    (matching,) = query(
        duckdb_url,
        "select count(*) as n from cdp.people where pipedrive_person_id is not null and "
        "(lower(email) like :q or lower(concat_ws(' ', first_name, last_name)) like :q)",
        q=f"%{someone['email']}%",
    )
    with duckdb_view.client() as client:
        found = client.get("/people", params={"q": someone["email"].upper()}).text
        assert f'href="/people/{someone["person_id"]}"' in found
        assert len(re.findall(r'class="person"', found)) == matching["n"]
        literal = client.get("/people", params={"q": "%"}).text  # a wildcard matches itself
        assert len(re.findall(r'class="person"', literal)) == 0
        everyone = client.get("/people").text
        for size in sizes:
            assert re.search(
                rf'{size["audience"]}</a></td><td class="n">{size["members"]}<', everyone
            )
        person_page = client.get(f"/people/{someone['person_id']}").text
        assert someone["email"] in person_page


def test_password_is_required(duckdb_view: View) -> None:
    with httpx.Client(base_url=duckdb_view.url) as anonymous:
        refused = anonymous.get("/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert anonymous.get("/overview", auth=("any", "wrong")).status_code == 401
        bearer = {"Authorization": f"Bearer {VIEW_PASSWORD}"}
        assert anonymous.get("/overview", headers=bearer).status_code == 200
    with duckdb_view.client() as client:
        assert client.get("/").status_code == 200


def test_listening_beyond_loopback_without_password_is_refused(tmp_path) -> None:
    result = subprocess.run(
        [str(BIN / "cdp-view"), "serve", "--host", "0.0.0.0", "--project-dir", str(tmp_path)],
        env={"PATH": str(BIN)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "without a password" in result.stderr


def test_forms_need_the_csrf_token(duckdb_view: View) -> None:
    before = duckdb_view.meltano_yml()
    with duckdb_view.client() as client:
        no_token = client.post("/name", data={"source_name": "Hijacked"})
        assert no_token.status_code == 403
        client.get("/")  # sets the cookie
        wrong = client.post("/name", data={"source_name": "Hijacked", "csrf_token": "guess"})
        assert wrong.status_code == 403
        other_site = httpx.post(
            duckdb_view.url + "/disconnect",
            data={"csrf_token": client.cookies["cdp_view_csrf"]},
            auth=("any", VIEW_PASSWORD),
        )
        assert other_site.status_code == 403
    assert duckdb_view.meltano_yml() == before


def _crawl(view: View) -> dict[str, httpx.Response]:
    pages: dict[str, httpx.Response] = {}
    with view.client() as client:
        for path in ("/", "/overview", "/activity", "/people", "/people/nobody", "/nowhere"):
            pages[path] = client.get(path)
        for prefix in ("/rejected/", "/conflicts/"):
            for link in links(pages["/overview"].text, prefix)[:2]:
                pages[link] = client.get(link)
        for link in links(pages["/people"].text, "/people/")[:2]:
            pages[link] = client.get(link)
        for link in links(pages["/people"].text, "/audiences/")[:1]:
            pages[link] = client.get(link)
    return pages


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_no_secret_in_any_page(engine: str, request: pytest.FixtureRequest) -> None:
    view: View = request.getfixturevalue("duckdb_view" if engine == "duckdb" else "pg_view")
    pages = _crawl(view)
    assert len(pages) >= 8
    assert any(path.startswith("/rejected/") for path in pages) or engine == "postgresql"
    for path, response in pages.items():
        text = response.text + str(response.headers)
        for secret in (SANDBOX_TOKEN, VIEW_PASSWORD, PG_PASSWORD):
            assert secret not in text, f"{path} shows a secret"
        assert "Traceback" not in text
    assert pages["/people/nobody"].status_code == 404
    assert "Pipedrive credentials</th><td>set" in pages["/"].text


@contextmanager
def write_lock(duckdb_url: str) -> Iterator[None]:
    """Another process holding the DuckDB file for writing, as a running sync does."""
    path = urlsplit(duckdb_url).path.removeprefix("/")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "c.execute('begin'); print('locked', flush=True); sys.stdin.read()",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("", timeout=30)


def test_pages_keep_working_while_a_sync_holds_the_duckdb_file(
    duckdb_view: View, duckdb_url: str
) -> None:
    with duckdb_view.client() as client:
        before = client.get("/overview").text
        assert 'id="busy"' not in before
        with write_lock(duckdb_url):
            during = client.get("/overview")
            never_read = client.get("/people", params={"q": "never read before"})
            details = client.get("/")
        after = client.get("/overview").text
    assert during.status_code == 200
    assert 'id="busy"' in during.text
    assert "Showing what was read at" in during.text
    assert shown_counts(during.text) == shown_counts(before)
    assert never_read.status_code == 200
    assert "Its data shows when the sync finishes" in never_read.text
    assert re.search(r'id="running">yes', details.text)
    for response in (during, never_read, details):
        assert "Traceback" not in response.text
    assert 'id="busy"' not in after
