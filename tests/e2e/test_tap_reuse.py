"""The tap in other Singer stacks, stream selection and selective sync, through Meltano.

- `meltano run tap-pipedrive target-postgres` (MeltanoLabs, from PyPI) loads the same streams.
- Editing `select:` in meltano.yml changes what is synced (in a copy of the project).
- The `tap-pipedrive-sales-pipeline` plugin of meltano.yml keeps only the records its stream
  maps' `__filter__` expressions accept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_expectations import Sandbox, parse_time
from e2e_meltano import ROOT, MeltanoProject, read_rows
from pipedrive_sandbox.testing import start_sandbox

pytestmark = [pytest.mark.meltano]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """A small seeded sandbox shared by the tests of this module."""
    with start_sandbox(seed=5, scale=400) as running:
        yield running


def test_target_postgres_loads_the_same_streams(
    sandbox: Any, tmp_path: Path, make_pg_database: Callable[[], str]
) -> None:
    url = make_pg_database().replace("postgresql://", "postgresql+psycopg://", 1)
    project = MeltanoProject(
        "prod",
        tmp_path,
        {
            "PIPEDRIVE_API_URL": sandbox.base_url,
            "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token,
            "CDP_DATABASE_URL": url,
        },
    )
    project.run("run", "tap-pipedrive", "target-postgres")

    data = Sandbox.read(sandbox.control)
    now = _now(sandbox)
    for kind in ("persons", "organizations", "activities", "notes"):
        rows = read_rows(url, f"select id from pipedrive.{kind}")
        assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in data.listed(kind, now))
    deals = {r["id"]: r for r in read_rows(url, "select * from pipedrive.deals")}
    assert set(deals) == {d["id"] for d in data.listed("deals", now)}
    assert {i for i, d in deals.items() if d["is_deleted"]} == {
        d["id"] for d in data.deals.values() if d["status"] == "deleted" and d["id"] in deals
    }
    assert {i for i, d in deals.items() if d["is_archived"]} == {
        d["id"] for d in data.deals.values() if d["is_archived"]
    }
    # Custom fields arrive under readable names, in a jsonb column target-postgres made.
    names = {
        key
        for row in read_rows(url, "select custom_fields from pipedrive.persons")
        for key in (row["custom_fields"] or {})
    }
    assert {"lead_source", "interests"} <= names
    assert not any(len(name) == 40 for name in names)  # no hash keys


def test_editing_select_changes_what_is_synced(sandbox: Any, tmp_path: Path) -> None:
    project = _project_copy(tmp_path, sandbox, select=["persons.*", "deals.*"])
    project.run("run", "tap-pipedrive", "target-jsonl")
    assert _synced_streams(tmp_path) == {"persons", "deals"}

    _edit_select(tmp_path, ["persons.*", "deals.*", "notes.*"])
    project.run("run", "tap-pipedrive", "target-jsonl", "--full-refresh")
    data = Sandbox.read(sandbox.control)
    assert _synced_streams(tmp_path) == {"persons", "deals", "notes"}
    notes = _records(tmp_path, "notes")
    assert {n["id"] for n in notes} == {n["id"] for n in data.listed("notes", _now(sandbox))}


def test_stream_map_filters_keep_only_the_selected_records(sandbox: Any, tmp_path: Path) -> None:
    project = _project_copy(tmp_path, sandbox, select=["persons.*", "deals.*"])
    project.run("run", "tap-pipedrive-sales-pipeline", "target-jsonl")
    data, now = Sandbox.read(sandbox.control), _now(sandbox)
    deals, persons = _records(tmp_path, "deals"), _records(tmp_path, "persons")
    expected_deals = {d["id"] for d in data.listed("deals", now) if d["pipeline_id"] == 1}
    expected_persons = {p["id"] for p in data.listed("persons", now) if 1 in p["label_ids"]}
    assert expected_deals
    assert expected_persons
    assert {d["id"] for d in deals} == expected_deals
    assert {p["id"] for p in persons} == expected_persons


def _now(sandbox: Any) -> dt.datetime | None:
    return parse_time(sandbox.control.now())


def _project_copy(work_dir: Path, sandbox: Any, select: list[str]) -> MeltanoProject:
    """A Meltano project with the repository's tap, target-jsonl and the given selection.

    The copy keeps meltano.yml's definitions verbatim except: only the plugins this test uses,
    local pip_urls made absolute, and `select:` replaced.
    """
    project_yml = yaml.safe_load((ROOT / "meltano.yml").read_text())
    extractors = project_yml["plugins"]["extractors"]
    for plugin in extractors:
        if "pip_url" in plugin and plugin["pip_url"].startswith("-e ./"):
            plugin["pip_url"] = f"-e {ROOT / plugin['pip_url'][5:]}"
        if plugin["name"] == "tap-pipedrive":
            plugin["select"] = select
    project_yml["plugins"] = {
        "extractors": extractors,
        "loaders": [p for p in project_yml["plugins"]["loaders"] if p["name"] == "target-jsonl"],
    }
    for environment in project_yml["environments"]:
        environment.get("config", {}).get("plugins", {}).pop("utilities", None)
        loaders = environment.get("config", {}).get("plugins", {}).get("loaders", [])
        loaders[:] = [p for p in loaders if p["name"] == "target-jsonl"]
    (work_dir / "meltano.yml").write_text(yaml.safe_dump(project_yml, sort_keys=False))
    return MeltanoProject(
        "dev",
        work_dir,
        {"TAP_PIPEDRIVE_API_URL": sandbox.base_url, "TAP_PIPEDRIVE_API_TOKEN": sandbox.api_token},
        root=work_dir,
    )


def _edit_select(work_dir: Path, select: list[str]) -> None:
    path = work_dir / "meltano.yml"
    project_yml = yaml.safe_load(path.read_text())
    for plugin in project_yml["plugins"]["extractors"]:
        if plugin["name"] == "tap-pipedrive":
            plugin["select"] = select
    path.write_text(yaml.safe_dump(project_yml, sort_keys=False))


def _synced_streams(work_dir: Path) -> set[str]:
    return {path.stem for path in (work_dir / "output" / "jsonl").glob("*.jsonl")}


def _records(work_dir: Path, stream: str) -> list[dict[str, Any]]:
    path = work_dir / "output" / "jsonl" / f"{stream}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line]
