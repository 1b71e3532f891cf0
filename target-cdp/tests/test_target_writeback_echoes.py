"""Loop prevention: what target-pipedrive wrote, coming back through tap-pipedrive, is told
apart by target-cdp (writeback_ledger): marked, never engagement, never overwriting the CDP
person it was written from (a later edit made in Pipedrive does, as merge_strategy says)."""

from __future__ import annotations

import datetime as dt

from target_messages import NOW, deal, note, pd_activity, person, stream_of, ts
from target_pipedrive.ledger import Ledger

CDP_PERSON = {
    "person_id": "form:ann",
    "email": "ann@acme.io",
    "first_name": "Ann Marie",
    "last_name": "Smith",
    "source": "form",
    "email_permission": True,
    "sms_permission": False,
    "attributes": {"plan": "pro"},
}


def write_ledger(
    cdp,
    writes: list[tuple[str, str, int, dict]],
    at: dt.datetime | None = None,
    match: dict | None = None,
) -> None:
    """Done ledger rows as target-pipedrive writes them: (action, object, Pipedrive id, body).

    Recorded ``at`` that time (the ledger's clock), or now; ``match`` is the action's (none:
    a create; ``{"id": ...}``: an update).
    """
    clock = {} if at is None else {"clock": lambda: at}
    ledger = Ledger(cdp.url, cdp.schema, "writeback-run", **clock)
    try:
        for n, (action, object_type, pipedrive_id, body) in enumerate(writes):
            key = f"slipping_subscribers:form:ann:1:entered#{n}"
            payload = {"body": body, "match": match or {}}
            ledger.write_intent(action, key, object_type, f"hash{n}", payload, ("form:ann", None))
            ledger.write_done(action, key, pipedrive_id)
    finally:
        ledger.dispose()


def activities(cdp) -> dict[str, dict]:
    return {a["activity_key"]: a for a in cdp.rows("activities")}


def test_a_sync_without_a_ledger_marks_nothing(cdp):
    cdp.run(
        [
            *stream_of("persons", [person(901, "ann@acme.io")]),
            *stream_of("notes", [note(501, person_id=901)]),
        ]
    )
    added = activities(cdp)["pipedrive:note:501:added"]
    assert "writeback_action" not in added["attributes"]
    summary = {s["activity_type"]: s["count"] for s in cdp.rows("activity_summary")}
    assert summary["pipedrive.note.added"] == 1


def test_write_backs_coming_back_are_marked_uncounted_and_keep_the_cdp_person(cdp):
    cdp.migrate()
    cdp.insert("people", CDP_PERSON)
    write_ledger(
        cdp,
        [
            ("upsert-person", "person", 901, {"name": "Ann Marie Smith"}),
            ("call", "activity", 601, {"subject": "Check in with Ann Marie", "type": "call"}),
            ("note", "note", 501, {"content": "Repeat customer: 2 won deals"}),
            ("to-negotiation", "deal", 42, {"stage_id": 3}),
        ],
    )
    # Pipedrive splits the name it was sent its own way, and adds fields of its own.
    echo = person(
        901, "ann@acme.io", name="Ann Marie Smith", first_name="Ann", last_name="Marie Smith"
    )
    cdp.run(
        [
            *stream_of("persons", [echo, person(902, "bob@acme.io")]),
            *stream_of("deals", [deal(42, person_id=901, stage_id=3, stage_change_time=ts(1))]),
            *stream_of("notes", [note(501, person_id=901), note(502, person_id=901)]),
            *stream_of("activities", [pd_activity(601, person_id=901)]),
        ]
    )
    people = {p["person_id"]: p for p in cdp.rows("people")}
    ann = people["form:ann"]
    assert (ann["first_name"], ann["last_name"]) == ("Ann Marie", "Smith")
    assert ann["pipedrive_person_id"] == 901
    assert ann["attributes"]["plan"] == "pro"
    assert ann["attributes"]["owner_id"] == 1  # gaps are filled
    assert len(people) == 2

    marked = {
        a["activity_type"]: a["attributes"].get("writeback_action")
        for a in activities(cdp).values()
        if a["source_record"] != "note:502"
    }
    assert marked["pipedrive.note.added"] == "note"
    assert marked["pipedrive.activity.created"] == "call"
    assert marked["pipedrive.deal.stage_changed"] == "to-negotiation"
    human = activities(cdp)["pipedrive:note:502:added"]
    assert "writeback_action" not in human["attributes"]
    summary = {
        (s["person_id"], s["activity_type"]): s["count"] for s in cdp.rows("activity_summary")
    }
    assert summary[("form:ann", "pipedrive.note.added")] == 1  # the person's own note only
    assert ("form:ann", "pipedrive.deal.stage_changed") not in summary


def test_later_changes_made_in_pipedrive_are_not_the_write_backs(cdp):
    """The deal moved on from the stage written, the call completed: not marked."""
    cdp.migrate()
    write_ledger(cdp, [("to-negotiation", "deal", 42, {"stage_id": 3})])
    cdp.run(stream_of("deals", [deal(42, stage_id=3, stage_change_time=ts(3), update_time=ts(3))]))
    cdp.run(stream_of("deals", [deal(42, stage_id=4, stage_change_time=ts(1), update_time=ts(1))]))
    stage_changes = sorted(
        (a["attributes"]["stage_id"], a["attributes"].get("writeback_action"))
        for a in activities(cdp).values()
        if a["activity_type"] == "pipedrive.deal.stage_changed"
    )
    assert stage_changes == [(3, "to-negotiation"), (4, None)]


def test_an_update_action_on_a_deal_made_in_pipedrive_does_not_mark_its_creation(cdp):
    """The ledger's match names the deal by id (verb update): the write-back made no deal."""
    cdp.migrate()
    write_ledger(cdp, [("to-negotiation", "deal", 42, {"stage_id": 3})], match={"id": 42})
    cdp.run(stream_of("deals", [deal(42, stage_id=3, stage_change_time=ts(1))]))
    marked = {
        a["activity_type"]: a["attributes"].get("writeback_action")
        for a in activities(cdp).values()
    }
    assert marked["pipedrive.deal.created"] is None
    assert marked["pipedrive.deal.stage_changed"] == "to-negotiation"


def test_a_later_edit_in_pipedrive_of_a_person_written_back_follows_merge_strategy(cdp):
    """The echo (changed up to 5 minutes after the write was recorded: clock skew) only fills
    gaps; a salesperson's correction made after that overwrites, as merge_strategy says."""
    cdp.migrate()
    cdp.insert("people", CDP_PERSON)
    write_ledger(
        cdp, [("upsert-person", "person", 901, {"name": "Ann Marie Smith"})], NOW - dt.timedelta(2)
    )
    four_minutes_after, six_minutes_after = ts(2, hours=-0.07), ts(2, hours=-0.1)
    echo = person(
        901,
        "ann@acme.io",
        first_name="Ann",
        last_name="Marie Smith",
        update_time=four_minutes_after,
    )
    cdp.run(stream_of("persons", [echo]), merge_strategy="overwrite_existing")
    [ann] = cdp.rows("people")
    assert (ann["email"], ann["first_name"], ann["last_name"]) == (
        "ann@acme.io",
        "Ann Marie",
        "Smith",
    )
    assert (ann["pipedrive_person_id"], ann["attributes"]["owner_id"]) == (901, 1)

    edit = {**echo, "update_time": six_minutes_after, "first_name": "Anne", "last_name": "Smyth"}
    edit["emails"] = [{"value": "anne.smyth@acme.io", "primary": True, "label": "work"}]
    cdp.run(stream_of("persons", [edit]), merge_strategy="overwrite_existing")
    [ann] = cdp.rows("people")
    assert ann["person_id"] == "form:ann"
    assert (ann["email"], ann["first_name"], ann["last_name"]) == (
        "anne.smyth@acme.io",
        "Anne",
        "Smyth",
    )
    assert ann["attributes"]["plan"] == "pro"
