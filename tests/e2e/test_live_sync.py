"""Live sync end to end, on DuckDB and PostgreSQL, through Meltano as a user runs it.

The sandbox delivers webhooks v2 to a real receiver (``pipedrive-webhooks serve``, registered
with its own ``register``); the receiver's trigger runs the applying job
``meltano run tap-pipedrive-live target-cdp``; the CDP then shows a created, changed, deleted
and merged person, a deleted organization, activity and note, and a won deal. Applying makes no
list request (the sandbox's stats), a redelivered event is stored once, an older change
delivered late changes nothing, and ``status`` shows the run that applied everything.

One scenario per engine (module scope): a polling sync first (so the changes have something to
change), then the changes, one wait for the applying run, then the late deliveries and one wait
for the run they start.
"""

from __future__ import annotations

import base64
import copy
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_meltano import BIN, ROOT, MeltanoProject, read_rows
from pipedrive_sandbox.testing import RunningSandbox, start_sandbox
from pipedrive_webhooks import Spool

pytestmark = [pytest.mark.meltano, pytest.mark.timeout(1500)]

USER, PASSWORD = "pipedrive", "live-sync-e2e-password"
LIST_PATHS = (
    "/api/v2/persons",
    "/api/v2/organizations",
    "/api/v2/deals",
    "/api/v2/activities",
    "/v1/notes",
    "/api/v2/deals/archived",
)
WAIT_SECONDS = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition: Callable[[], Any], what: str, log: Path | None = None) -> Any:
    """Poll ``condition`` until it returns something true (generous: a loaded CI machine)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-6000:] if log else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


@dataclass
class Live:
    """One engine's scenario: what was changed, the CDP, the spool and the receiver's output."""

    engine: str
    url: str
    ids: dict[str, int]
    spool: Spool
    list_requests: dict[str, int]
    field_requests: dict[str, int]
    status_output: str
    spooled_once: bool
    late_name: str


def _project(engine: str, work: Path, sandbox: RunningSandbox, make_pg: Callable[[], str]):
    spool_path = work / "webhook-spool.sqlite"
    live = {
        "TAP_PIPEDRIVE_LIVE_WEBHOOK_SPOOL": str(spool_path),
        "TAP_PIPEDRIVE_LIVE_FIELD_CACHE_PATH": str(work / "fields.json"),
        "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
    }
    if engine == "duckdb":
        url = f"duckdb:///{work / 'warehouse.duckdb'}"
        env = {"TAP_PIPEDRIVE_API_URL": sandbox.base_url, "TARGET_CDP_DATABASE_URL": url}
        return MeltanoProject("dev", work, {**env, **live}), url, spool_path
    url = make_pg().replace("postgresql://", "postgresql+psycopg://", 1)
    env = {"PIPEDRIVE_API_URL": sandbox.base_url, "CDP_DATABASE_URL": url}
    return MeltanoProject("prod", work, {**env, **live}), url, spool_path


def _receiver_env(project: MeltanoProject, spool_path: Path, sandbox: RunningSandbox, port: int):
    chosen = f"--environment {project.environment}"
    settings = {
        "spool_url": str(spool_path),
        "auth_user": USER,
        "auth_password": PASSWORD,
        "port": str(port),
        "public_url": f"http://127.0.0.1:{port}/pipedrive",
        "api_url": sandbox.base_url,
        "api_token": sandbox.api_token,
        "objects": "activity,deal,note,organization,person",
        "apply_command": f"{BIN / 'meltano'} {chosen} run tap-pipedrive-live target-cdp",
        "apply_quiet_seconds": "1",
        "apply_max_wait_seconds": "10",
        "meltano_database_uri": f"sqlite:///{project.work_dir / 'meltano.db'}",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPEDRIVE_WEBHOOKS_")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": settings["meltano_database_uri"],
        **project.env,
    }
    env |= {f"PIPEDRIVE_WEBHOOKS_{k.upper()}": v for k, v in settings.items()}
    return env


def _webhooks(env: dict[str, str], command: str) -> str:
    done = subprocess.run(
        [str(BIN / "pipedrive-webhooks"), command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _change_pipedrive(control: Any) -> dict[str, int]:
    """The sales team's changes; returns the Pipedrive ids they touched."""
    persons = control.dataset("persons", include_deleted=False)
    deals = control.dataset("deals", include_deleted=False)
    with_deal = {d["person_id"] for d in deals if d.get("person_id")}
    absorbed = next(p["id"] for p in persons if p["id"] in with_deal)
    others = [p["id"] for p in persons if p["id"] != absorbed]
    survivor, changed, deleted = others[:3]
    deal_persons = {survivor, changed, deleted, absorbed}
    open_deal = next(
        d["id"] for d in deals if d["status"] == "open" and d.get("person_id") not in deal_persons
    )
    org = next(
        o["id"]
        for o in control.dataset("organizations", include_deleted=False)
        if o["id"] not in {p.get("org_id") for p in persons}
    )
    activity = control.dataset("activities", include_deleted=False)[0]["id"]
    note = control.dataset("notes", include_deleted=False)[0]["id"]
    created = control.create(
        "persons",
        {
            "name": "Live Created",
            "emails": [{"value": "live.created@acme.io", "primary": True, "label": "work"}],
        },
    )["id"]
    control.update("persons", changed, {"first_name": "Intermediate"})
    control.update("persons", changed, {"first_name": "Livechanged"})
    control.delete("persons", deleted)
    control.merge("persons", absorbed, survivor)
    control.delete("organizations", org)
    control.delete("activities", activity)
    control.delete("notes", note)
    control.update("deals", open_deal, {"status": "won"})
    return {
        "created": created,
        "changed": changed,
        "deleted": deleted,
        "absorbed": absorbed,
        "survivor": survivor,
        "org": org,
        "activity": activity,
        "note": note,
        "deal": open_deal,
        "absorbed_deal": next(d["id"] for d in deals if d.get("person_id") == absorbed),
    }


def _applied(spool: Spool) -> Callable[[], bool]:
    """Every spooled event applied by a finished, successful run."""

    def check() -> bool:
        status = spool.status()
        run = status.last_run
        return (
            status.events > 0
            and status.backlog == 0
            and run is not None
            and run.exit_code == 0
            and (run.applied_through or 0) >= status.position
        )

    return check


def _post(port: int, body: dict[str, Any]) -> int:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    response = requests.post(
        f"http://127.0.0.1:{port}/pipedrive",
        json=body,
        headers={"Authorization": f"Basic {token}"},
        timeout=30,
    )
    return response.status_code


def _late_deliveries(spool: Spool, port: int, changed: int) -> tuple[bool, str]:
    """Redeliver the newest change of ``changed`` and deliver an older change of it late.

    Returns (the redelivery was stored once, the late change's name).
    """
    events = [
        e
        for e in spool.read_after(0, limit=100_000)
        if e.entity == "person" and e.entity_id == str(changed) and e.action == "change"
    ]
    newest = events[-1]
    count = len(spool.read_after(0, limit=100_000))
    assert _post(port, newest.payload) == 200  # Pipedrive retrying an acknowledged delivery
    once = len(spool.read_after(0, limit=100_000)) == count
    late = copy.deepcopy(newest.payload)
    late["meta"]["id"] = str(uuid.uuid4())
    late["meta"]["timestamp"] = "2020-01-01T00:00:00.000Z"
    late["data"]["first_name"] = "Stale"
    late["data"]["update_time"] = "2020-01-01T00:00:00Z"
    assert _post(port, late) == 200
    return once, "Stale"


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_pg_database: Callable[[], str],
) -> Iterator[Live]:
    engine = request.param
    work = tmp_path_factory.mktemp(f"live-{engine}")
    with start_sandbox(seed=11, scale=40, burst_limit=0, daily_budget=0) as sandbox:
        control = sandbox.control
        control.configure_webhooks(retry_delays=[0.5, 1, 2], timeout=10)
        project, url, spool_path = _project(engine, work, sandbox, make_pg_database)
        project.run("run", "tap-pipedrive", "target-cdp")  # the polling sync the CDP starts from
        port = _free_port()
        env = _receiver_env(project, spool_path, sandbox, port)
        log = work / "receiver.log"
        with log.open("wb") as out:
            receiver = subprocess.Popen(
                [str(BIN / "pipedrive-webhooks"), "serve"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait(lambda: _health(port), "the receiver to listen", log)
            _webhooks(env, "register")
            control.reset_stats()
            ids = _change_pipedrive(control)
            control.wait_for_webhooks(timeout=WAIT_SECONDS)
            spool = Spool(str(spool_path))
            _wait(_applied(spool), "the applying run", log)
            once, late_name = _late_deliveries(spool, port, ids["changed"])
            before = spool.last_run()
            _wait(
                lambda: _applied(spool)() and spool.last_run() != before,
                "the run applying the late delivery",
                log,
            )
            stats = control.stats()["by_operation"]
            status_output = _webhooks(env, "status")
        finally:
            receiver.terminate()
            receiver.wait(timeout=120)
        yield Live(
            engine=engine,
            url=url,
            ids=ids,
            spool=spool,
            list_requests={
                op: figures["requests"]
                for op, figures in stats.items()
                if op.startswith("GET ") and op.split(" ", 1)[1] in LIST_PATHS
            },
            field_requests={
                op: figures["requests"] for op, figures in stats.items() if "Fields" in op
            },
            status_output=status_output,
            spooled_once=once,
            late_name=late_name,
        )
        spool.close()


def _health(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _person(live: Live, pid: int) -> dict[str, Any]:
    [row] = read_rows(live.url, f"select * from cdp.people where pipedrive_person_id = {pid}")
    return row


def _record(live: Live, stream: str, pid: int) -> dict[str, Any]:
    [row] = read_rows(
        live.url,
        f"select * from cdp.pipedrive_records where stream = '{stream}' and pipedrive_id = {pid}",
    )
    return row


def test_changes_reach_the_cdp(live: Live) -> None:
    created = _person(live, live.ids["created"])
    assert (created["email"], created["is_deleted"]) == ("live.created@acme.io", False)
    # A webhook carries no marketing status: the decision waits for the polling sync.
    assert created["email_permission"] is None
    assert _person(live, live.ids["changed"])["first_name"] == "Livechanged"
    deleted = _person(live, live.ids["deleted"])
    assert deleted["is_deleted"] is True
    assert deleted["deleted_at"] is not None
    [org] = read_rows(
        live.url, f"select * from cdp.organizations where pipedrive_org_id = {live.ids['org']}"
    )
    assert org["is_deleted"] is True
    assert _record(live, "activities", live.ids["activity"])["is_deleted"] is True
    assert _record(live, "notes", live.ids["note"])["is_deleted"] is True
    [deal] = read_rows(
        live.url, f"select * from cdp.deals where pipedrive_deal_id = {live.ids['deal']}"
    )
    assert deal["status"] == "won"


def test_a_merge_relinks_the_absorbed_person(live: Live) -> None:
    absorbed = _person(live, live.ids["absorbed"])
    survivor = _person(live, live.ids["survivor"])
    assert absorbed["merged_into"] == survivor["person_id"]
    assert absorbed["is_deleted"] is True
    [deal] = read_rows(
        live.url,
        f"select * from cdp.deals where pipedrive_deal_id = {live.ids['absorbed_deal']}",
    )
    assert deal["person_id"] == survivor["person_id"]
    merged = read_rows(
        live.url,
        "select * from cdp.activities where activity_type = 'pipedrive.person.merged'"
        f" and person_id = '{survivor['person_id']}'",
    )
    assert len(merged) == 1


def test_applying_makes_no_list_request(live: Live) -> None:
    assert live.list_requests == {}
    # Field definitions: at most once each (the cache is empty before the first live run).
    assert all(count <= 1 for count in live.field_requests.values()), live.field_requests


def test_duplicates_and_late_deliveries_are_applied_once_newest_wins(live: Live) -> None:
    assert live.spooled_once
    events = live.spool.read_after(0, limit=100_000)
    assert len({e.event_id for e in events}) == len(events)
    changed = _person(live, live.ids["changed"])
    assert changed["first_name"] == "Livechanged"  # not live.late_name
    assert live.late_name != changed["first_name"]


def test_status_shows_the_applied_run_and_no_backlog(live: Live) -> None:
    status = live.spool.status()
    assert status.backlog == 0
    assert status.applied_position == status.position
    assert status.last_run is not None
    assert status.last_run.exit_code == 0
    shown = live.status_output
    assert f"backlog: 0 after applied position {status.position}" in shown
    assert f"last run: #{status.last_run.run_id} " in shown
    assert f"exit code 0; applied through position {status.position}" in shown
    # ...and the safety net's last run, the polling sync, from Meltano's run history.
    assert (
        f"last run {'dev' if live.engine == 'duckdb' else 'prod'}:tap-pipedrive-to-target-cdp"
        in shown
    )
