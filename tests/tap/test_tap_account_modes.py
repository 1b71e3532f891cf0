"""Accounts that lack something the tap asks for: here, Pipedrive's marketing app."""

from __future__ import annotations

import math
from pathlib import Path

from pipedrive_sandbox.testing import start_sandbox
from tap_helpers import catalog_for, run_cli, sandbox_config

MARKETING = {"marketing_status", "doi_status"}


def test_persons_without_marketing_app_arrive_without_marketing_status(tmp_path: Path) -> None:
    with start_sandbox(seed=11, scale=300, burst_limit=0, no_marketing_app=True) as sandbox:
        config = sandbox_config(sandbox, page_size=10)
        catalog = catalog_for(config, {"persons"})
        sandbox.control.reset_stats()
        run = run_cli(tmp_path, config, catalog=catalog)
        stats = sandbox.control.stats()
        live = {p["id"] for p in sandbox.control.dataset("persons", include_deleted=False)}
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("persons")) == sorted(live)
    assert not any(MARKETING & set(person) for person in run.records["persons"])
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "persons")
    assert MARKETING <= set(schema["schema"]["properties"])
    pages = math.ceil(len(live) / 10)
    assert pages > 3
    assert stats["by_operation"]["GET /api/v2/persons"]["requests"] == pages + 1
    assert stats["by_status"].get("400") == 1
    warnings = [line for line in run.stderr.splitlines() if "marketing app" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "WARNING" in warnings[0]
    assert "marketing_status will be absent" in warnings[0]
