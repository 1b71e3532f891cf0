"""cdp-view in a browser: Playwright driving Debian's chromium against a CDP filled by the real
tap and target. Each tab shows what the database holds; settings changes persist in meltano.yml
(the test project's copy); a screenshot of each tab is left in output/cdp-view/ to look at.

Chromium comes from apt (``.ci/run`` installs it): if it is missing these tests fail.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_view_http import COUNT_SQL
from view_helpers import ROOT, View, query

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "output" / "cdp-view"
SLOW_MS = 300_000  # a save runs Meltano several times; the shared CI machine can be slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Browser, view: View) -> Page:
    credentials = {"username": "any", "password": view.password} if view.password else None
    context = browser.new_context(
        base_url=view.url, http_credentials=credentials, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(SLOW_MS)
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def environment_config(view: View, kind: str, plugin: str) -> dict[str, Any]:
    """The dev environment's config block of one plugin in the test project's meltano.yml."""
    data = yaml.safe_load(view.meltano_yml())
    (dev,) = [e for e in data["environments"] if e["name"] == "dev"]
    for entry in dev["config"]["plugins"].get(kind, []):
        if entry["name"] == plugin:
            return entry.get("config", {})
    return {}


def test_each_tab_shows_what_the_database_holds(
    browser: Browser, duckdb_view: View, duckdb_url: str
) -> None:
    page = open_page(browser, duckdb_view)
    (counts,) = query(duckdb_url, COUNT_SQL)

    page.goto("/overview")
    for name, value in counts.items():
        expect(page.locator(f"#count-{name}")).to_contain_text(f"{value:,}")
    runs = query(duckdb_url, "select count(*) as n from cdp.sync_runs")[0]["n"]
    expect(page.locator('svg.chart[aria-label="Records synced per run"] rect')).to_have_count(runs)
    usage = query(duckdb_url, "select started_at from cdp.api_usage")
    days = {row["started_at"].astimezone(dt.UTC).date() for row in usage}
    tokens_chart = page.locator('svg.chart[aria-label="Pipedrive API tokens per day (UTC)"] rect')
    expect(tokens_chart).to_have_count(len(days))
    (rejected,) = query(duckdb_url, "select reason from cdp.rejected_records")
    expect(page.locator("#rejected")).to_contain_text(rejected["reason"][:40])
    shot(page, "overview")
    page.locator("#rejected a").first.click()
    expect(page.locator("#reason")).to_have_text(rejected["reason"])

    page.goto("/")
    (last,) = query(
        duckdb_url,
        "select finished_at from cdp.sync_runs where status = 'succeeded' "
        "order by started_at desc limit 1",
    )
    expect(page.locator("#last-success")).to_contain_text(
        last["finished_at"].strftime("%Y-%m-%d %H:%M:%S")
    )
    expect(page.locator("#next-run")).to_contain_text("sync-cdp-every-15-minutes")
    shot(page, "details")

    feed = query(
        duckdb_url,
        "select activity_type from cdp.activities order by occurred_at desc, activity_key desc",
    )
    page.goto("/activity")
    expect(page.locator("tr.activity")).to_have_count(min(len(feed), 50))
    expect(page.locator("tr.activity").first).to_contain_text(feed[0]["activity_type"])
    shot(page, "activity")
    page.select_option("select[name=type]", "pipedrive.deal.created")
    page.click("#filters button")
    deals_created = sum(1 for row in feed if row["activity_type"] == "pipedrive.deal.created")
    expect(page.locator("tr.activity")).to_have_count(min(deals_created, 50))

    people = query(
        duckdb_url, "select count(*) as n from cdp.people where pipedrive_person_id is not null"
    )[0]["n"]
    page.goto("/people")
    expect(page.locator("tr.person")).to_have_count(min(people, 50))
    shot(page, "audience-table")
    (member,) = query(
        duckdb_url,
        "select m.member_id, p.email from audiences.audience_membership m join cdp.people p "
        "on p.person_id = m.member_id where m.member_kind = 'person' "
        "order by m.member_id limit 1",
    ) or [None]
    if member is not None:
        page.goto(f"/people/{member['member_id']}")
        expect(page.locator("#fields")).to_contain_text(member["email"] or "")
        expect(page.locator("#stints tr")).not_to_have_count(1)
        shot(page, "person")
    (audience,) = query(
        duckdb_url,
        "select audience, count(*) as n from audiences.audience_membership "
        "where exited_at is null group by audience order by n desc limit 1",
    )
    page.goto("/people")
    page.click(f"#audiences a:text-is('{audience['audience']}')")
    expect(page.locator("tr.member")).to_have_count(min(audience["n"], 50))
    expect(page.locator("#builds")).to_contain_text(str(audience["n"]))
    shot(page, "audience")


def test_settings_persist_in_meltano_yml(
    browser: Browser, settings_view: View, duckdb_url: str
) -> None:
    page = open_page(browser, settings_view)
    page.goto("/")

    page.fill("input[name=source_name]", "Sales CRM (EU)")
    page.click("#rename button")
    expect(page.locator("#notice")).to_contain_text("Name saved")
    page.reload()
    expect(page.locator("#source-name")).to_have_text("Sales CRM (EU)")
    assert environment_config(settings_view, "utilities", "cdp-view")["source_name"] == (
        "Sales CRM (EU)"
    )

    page.select_option("select[name=merge_strategy]", "append_only")
    page.fill("input[name=activity_retention_days]", "30")
    page.click("#save")
    expect(page.locator("#notice")).to_contain_text("resync")
    expect(page.locator("#resync")).to_be_visible()
    target = environment_config(settings_view, "loaders", "target-cdp")
    assert target["merge_strategy"] == "append_only"
    assert target["activity_retention_days"] == 30
    expect(page.locator("select[name=merge_strategy]")).to_have_value("append_only")
    page.click("#resync")
    expect(page.locator("#notice")).to_contain_text("Resync started")
    runs = settings_view.project / "runs.log"
    deadline = time.monotonic() + 60
    while not runs.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert runs.read_text().split() == ["--environment", "dev", "run", "--full-refresh", "sync-cdp"]

    page.goto("/")
    expect(page.locator("#writeback-enabled")).to_be_checked()  # on by default
    page.uncheck("#writeback-enabled")
    page.click("#save")
    expect(page.locator("#notice")).to_contain_text("Settings saved")
    expect(page.locator("#writeback-enabled")).not_to_be_checked()
    assert environment_config(settings_view, "loaders", "target-pipedrive")["enabled"] is False
    page.check("#writeback-enabled")
    page.click("#save")
    expect(page.locator("#writeback-enabled")).to_be_checked()
    assert environment_config(settings_view, "loaders", "target-pipedrive")["enabled"] is True

    before = settings_view.meltano_yml()
    page.fill("input[name=activity_retention_days]", "-5")
    page.click("#save")
    expect(page.locator("#error")).to_contain_text(
        "Invalid setting `activity_retention_days`: -5 is less than the minimum of 0"
    )
    expect(page.locator("input[name=activity_retention_days]")).to_have_value("-5")
    assert settings_view.meltano_yml() == before
    shot(page, "details-refused")

    (rows_before,) = query(duckdb_url, COUNT_SQL)
    page.click("#disconnect")
    expect(page.locator("#notice")).to_contain_text("Disconnected")
    expect(page.locator("#next-run")).to_contain_text("paused")
    schedules = {
        s["name"]: s["interval"] for s in yaml.safe_load(settings_view.meltano_yml())["schedules"]
    }
    assert schedules["sync-cdp-every-15-minutes"] == "@manual"  # the one running the tap
    assert environment_config(settings_view, "loaders", "target-pipedrive")["enabled"] is False
    expect(page.locator("#writeback-enabled")).not_to_be_checked()
    (rows_after,) = query(duckdb_url, COUNT_SQL)
    assert rows_after == rows_before
    page.goto("/overview")
    for name, value in rows_before.items():
        expect(page.locator(f"#count-{name}")).to_contain_text(f"{value:,}")
    assert re.search(r"Sales CRM \(EU\)", page.content())
