"""ACTIVATE_VERSION retires in chunks that always move on, whatever the sinks store."""

from __future__ import annotations

import pytest
from target_cdp.sinks import objects
from target_messages import NOW, activate, person, record, schema

V1, V2 = (int(NOW.timestamp() * 1000) - hours * 3_600_000 for hours in (2, 1))


@pytest.mark.timeout(60)
def test_retiring_people_no_one_links_any_more_finishes(cdp, monkeypatch):
    monkeypatch.setattr(objects, "RETIRE_CHUNK", 3)  # 8 stored persons: several chunks
    cdp.run(
        [
            schema("persons"),
            *(record("persons", person(i, f"p{i}@acme.io"), V1) for i in range(1, 9)),
        ]
    )
    cdp.execute("delete from {s}.people where pipedrive_person_id <> 8")  # erased elsewhere
    cdp.run(
        [
            schema("persons"),
            record("persons", person(8, "p8@acme.io"), V2),
            activate("persons", V2),
        ],
        create_new_people=False,
    )
    [*_, run] = cdp.rows("sync_runs", order_by="started_at")
    assert (run["status"], run["counts"]["persons"]["skipped"]) == ("succeeded", 7)
    [kept] = cdp.rows("people")
    assert (kept["pipedrive_person_id"], kept["is_deleted"]) == (8, False)
