"""Activities derived from changes: history on first sync, once only, versions, retention."""

from __future__ import annotations

from target_messages import deal, note, pd_activity, person, stream_of, ts


def types(cdp) -> list[tuple[str, str]]:
    return [
        (a["activity_type"], a["activity_key"])
        for a in cdp.rows("activities", order_by="activity_key")
    ]


def summary(cdp) -> dict[str, int]:
    return {s["activity_type"]: s["count"] for s in cdp.rows("activity_summary")}


WON = deal(
    42,
    person_id=1,
    status="won",
    stage_id=3,
    add_time=ts(20),
    stage_change_time=ts(8),
    won_time=ts(7),
    update_time=ts(7),
)


def test_first_sync_emits_history_at_real_times_and_replay_adds_nothing(cdp):
    messages = [*stream_of("persons", [person(1, "a@acme.io")]), *stream_of("deals", [WON])]
    cdp.run(messages)
    first = cdp.rows("activities", order_by="activity_key")
    by_type = {a["activity_type"]: a for a in first}
    assert set(by_type) == {
        "pipedrive.person.created",
        "pipedrive.deal.created",
        "pipedrive.deal.stage_changed",
        "pipedrive.deal.won",
    }
    assert by_type["pipedrive.deal.created"]["occurred_at"].isoformat()[:19] == ts(20)[:19]
    assert by_type["pipedrive.deal.won"]["occurred_at"].isoformat()[:19] == ts(7)[:19]
    assert by_type["pipedrive.deal.won"]["activity_key"] == f"pipedrive:deal:42:won:{ts(7)}"
    assert by_type["pipedrive.deal.stage_changed"]["attributes"]["stage_id"] == 3
    person_id = cdp.rows("people")[0]["person_id"]
    assert {a["person_id"] for a in first} == {person_id}
    assert summary(cdp) == dict.fromkeys(by_type, 1)
    cdp.run(messages)
    assert cdp.rows("activities", order_by="activity_key") == first
    assert summary(cdp) == dict.fromkeys(by_type, 1)
    assert cdp.rows("sync_runs", order_by="started_at")[1]["counts"]["deals"]["activities"] == 0


def test_changes_emit_stage_won_lost_updated_and_deleted(duck):
    duck.run(stream_of("deals", [deal(1), deal(2)]))
    duck.run(
        stream_of(
            "deals",
            [
                deal(1, stage_id=2, stage_change_time=ts(1), update_time=ts(1), title="Bigger"),
                deal(2, status="lost", lost_time=ts(1), lost_reason="price", update_time=ts(1)),
            ],
        )
    )
    duck.run(
        stream_of(
            "deals",
            [deal(2, status="deleted", lost_time=ts(1), lost_reason="price", update_time=ts(0.5))],
        )
    )
    keys = types(duck)
    assert [t for t, _ in keys] == [
        "pipedrive.deal.created",
        "pipedrive.deal.stage_changed",
        "pipedrive.deal.updated",
        "pipedrive.deal.created",
        "pipedrive.deal.deleted",
        "pipedrive.deal.lost",
        "pipedrive.deal.updated",
        "pipedrive.deal.updated",
    ]
    rows = {a["activity_key"]: a for a in duck.rows("activities")}
    stage = rows[f"pipedrive:deal:1:stage_changed:{ts(1)}:2"]
    assert (stage["attributes"]["from_stage_id"], stage["attributes"]["stage_id"]) == (1, 2)
    updated = rows[f"pipedrive:deal:1:updated:{ts(1)}"]["attributes"]["changes"]
    assert updated["title"] == {"old": "Deal 1", "new": "Bigger"}
    assert "update_time" not in updated
    assert rows[f"pipedrive:deal:2:lost:{ts(1)}"]["attributes"]["lost_reason"] == "price"
    [lost_deal] = duck.rows("deals", where="pipedrive_deal_id = 2")
    assert (lost_deal["status"], lost_deal["is_deleted"]) == ("lost", True)


def test_person_updated_carries_old_and_new_values(duck):
    duck.run(
        stream_of("persons", [person(1, "a@acme.io", first_name="Ann")], custom_fields=("tier",))
    )
    changed = person(
        1, "a@acme.io", first_name="Annie", update_time=ts(1), custom_fields={"tier": "gold"}
    )
    duck.run(stream_of("persons", [changed], custom_fields=("tier",)))
    [updated] = [
        a for a in duck.rows("activities") if a["activity_type"] == "pipedrive.person.updated"
    ]
    assert updated["attributes"] == {
        "changes": {
            "custom_fields.tier": {"old": None, "new": "gold"},
            "first_name": {"old": "Ann", "new": "Annie"},
        }
    }


def test_notes_and_pipedrive_activities(cdp):
    cdp.run(
        [
            *stream_of("persons", [person(1, "a@acme.io")]),
            *stream_of("notes", [note(5, person_id=1, content="x" * 2000)]),
            *stream_of("activities", [pd_activity(7, person_id=1)]),
        ]
    )
    done = pd_activity(7, person_id=1, done=True, marked_as_done_time=ts(1), update_time=ts(1))
    cdp.run(stream_of("activities", [done]))
    rows = {a["activity_key"]: a for a in cdp.rows("activities")}
    assert len(rows["pipedrive:note:5:added"]["attributes"]["content"]) == 1000
    assert rows["pipedrive:activity:7:created"]["attributes"]["type"] == "call"
    assert f"pipedrive:activity:7:completed:{ts(1)}" in rows
    assert summary(cdp)["pipedrive.activity.completed"] == 1


def test_definition_version_bumps_when_attribute_set_changes(cdp):
    cdp.run(stream_of("deals", [deal(1)]))
    cdp.run(stream_of("deals", [deal(2)], custom_fields=("budget",)))
    cdp.run(stream_of("deals", [deal(3)]))
    versions = {
        a["source_record"]: a["definition_version"]
        for a in cdp.rows("activities")
        if a["activity_type"] == "pipedrive.deal.created"
    }
    assert versions == {"deal:1": 1, "deal:2": 2, "deal:3": 1}
    definitions = cdp.rows(
        "activity_definitions",
        where="activity_type = 'pipedrive.deal.created'",
        order_by="definition_version",
    )
    assert [d["definition_version"] for d in definitions] == [1, 2]
    assert "custom_fields.budget" not in definitions[0]["attribute_names"]
    assert "custom_fields.budget" in definitions[1]["attribute_names"]


def test_retention_with_overrides_and_summary_counts_once(cdp):
    old_person = person(1, "a@acme.io", add_time=ts(200), update_time=ts(200))
    messages = [
        *stream_of("persons", [old_person]),
        *stream_of("deals", [deal(1, person_id=1, add_time=ts(150), update_time=ts(150))]),
        *stream_of("notes", [note(1, person_id=1, add_time=ts(20), update_time=ts(20))]),
    ]
    settings = {
        "activity_retention_overrides": {"pipedrive.deal.*": "forever", "pipedrive.note.added": 10},
    }
    cdp.run(messages, **settings)
    assert [t for t, _ in types(cdp)] == ["pipedrive.deal.created"]
    expected = {
        "pipedrive.person.created": 1,
        "pipedrive.deal.created": 1,
        "pipedrive.note.added": 1,
    }
    assert summary(cdp) == expected
    cdp.run(messages, **settings)
    assert summary(cdp) == expected
    # Shorter retention later: the stored deal activity is purged, still counted.
    cdp.run([], **settings)
    cdp.run(stream_of("users", [{"id": 1, "name": "U"}]), activity_retention_days=90)
    assert types(cdp) == []
    assert summary(cdp) == expected
    runs = cdp.rows("sync_runs", order_by="started_at")
    assert runs[-1]["counts"]["deals"]["purged"] == 1


def test_activity_types_setting_limits_what_is_stored(duck):
    duck.run(
        [
            *stream_of("persons", [person(1, "a@acme.io")]),
            *stream_of("deals", [deal(1, person_id=1)]),
        ],
        activity_types=["pipedrive.deal.*"],
    )
    assert [t for t, _ in types(duck)] == ["pipedrive.deal.created"]
    assert summary(duck) == {"pipedrive.deal.created": 1}


OLD_WON = deal(
    9, person_id=1, status="won", add_time=ts(300), won_time=ts(200), update_time=ts(200)
)
OLD_PERSON = person(1, "a@acme.io", add_time=ts(400), update_time=ts(400))


def test_activity_waits_for_its_person_within_the_run_and_is_counted_once(cdp):
    # batch_size_rows=1: the deal's batch is written before its person's record is even read.
    cdp.run(
        [*stream_of("deals", [OLD_WON]), *stream_of("persons", [OLD_PERSON])], batch_size_rows=1
    )
    assert summary(cdp) == {
        "pipedrive.deal.created": 1,
        "pipedrive.deal.won": 1,
        "pipedrive.person.created": 1,
    }
    assert cdp.rows("activities") == []  # resolved, then purged at the end of the run
    [stored_deal] = cdp.rows("deals")
    assert stored_deal["person_id"] == cdp.rows("people")[0]["person_id"]
    assert cdp.rows("sync_runs")[0]["counts"]["deals"]["purged"] == 2


def test_activity_whose_person_never_arrives_is_subject_to_retention(cdp):
    recent_call = pd_activity(7, person_id=2, add_time=ts(4), update_time=ts(4))
    cdp.run([*stream_of("deals", [OLD_WON]), *stream_of("activities", [recent_call])])
    # Person 1 did not come in this run: the deal's old activities are purged, uncounted (no
    # person to count them under); the recent call waits within its window for person 2.
    [held] = cdp.rows("activities")
    assert (held["activity_key"], held["person_id"]) == ("pipedrive:activity:7:created", None)
    assert held["pipedrive_person_id"] == 2
    assert cdp.rows("sync_runs")[0]["counts"]["deals"]["purged"] == 2
    assert summary(cdp) == {}
    cdp.run(stream_of("persons", [OLD_PERSON, person(2, "b@acme.io")]))
    ids = {p["pipedrive_person_id"]: p["person_id"] for p in cdp.rows("people")}
    [call] = cdp.rows("activities", where="source_record = 'activity:7'")
    assert call["person_id"] == ids[2]
    counted = {
        (s["person_id"], s["activity_type"]): s["count"] for s in cdp.rows("activity_summary")
    }
    assert counted == {
        (ids[1], "pipedrive.person.created"): 1,
        (ids[2], "pipedrive.person.created"): 1,
        (ids[2], "pipedrive.activity.created"): 1,
    }


def test_definitions_carry_no_singer_metadata_columns(cdp):
    for record in (person(1, "a@acme.io"), person(1, "b@acme.io", update_time=ts(1))):
        messages = stream_of("persons", [record])
        messages[0]["schema"]["properties"]["_sdc_extracted_at"] = {"type": ["null", "string"]}
        cdp.run(messages)
    definitions = {
        d["activity_type"]: d["attribute_names"] for d in cdp.rows("activity_definitions")
    }
    assert "emails" in definitions["pipedrive.person.updated"]
    assert not [n for names in definitions.values() for n in names if n.startswith("_sdc_")]


def test_retention_overrides_nested_by_meltano_mean_the_dotted_types(cdp):
    # Meltano stores `pipedrive.deal.*: forever` of an object setting as nested objects.
    nested = {"pipedrive": {"deal": {"*": "forever"}, "note": {"added": 10}}}
    old_person = person(1, "a@acme.io", add_time=ts(200), update_time=ts(200))
    messages = [
        *stream_of("persons", [old_person]),
        *stream_of("deals", [deal(1, person_id=1, add_time=ts(150), update_time=ts(150))]),
        *stream_of("notes", [note(1, person_id=1, add_time=ts(20), update_time=ts(20))]),
    ]
    cdp.run(messages, activity_retention_overrides=nested)
    assert [t for t, _ in types(cdp)] == ["pipedrive.deal.created"]
