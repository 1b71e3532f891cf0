"""Keys: constraints on PostgreSQL; on DuckDB no key indexes, unique by the merge logic."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from target_cdp import bulk
from target_cdp.tables import build_tables
from target_messages import deal, everything, note, pd_activity, person, stream_of, ts

KEYED = ("PRIMARY KEY", "UNIQUE")


def key_constraints(cdp) -> set[tuple[str, str]]:
    """(table, constraint type) of every primary key and unique constraint in the CDP schema."""
    if cdp.url.startswith("duckdb"):
        sql = (
            "select table_name, constraint_type from duckdb_constraints() "
            "where schema_name = '{s}' and constraint_type in ('PRIMARY KEY', 'UNIQUE')"
        )
    else:
        sql = (
            "select table_name, constraint_type from information_schema.table_constraints "
            "where table_schema = '{s}' and constraint_type in ('PRIMARY KEY', 'UNIQUE')"
        )
    return {(r["table_name"], r["constraint_type"]) for r in cdp.query(sql)}


def repeated_keys(cdp) -> dict[str, list[dict]]:
    """Per table and key (primary key, unique column): the values stored more than once."""
    found = {}
    for table in build_tables(cdp.schema).metadata.sorted_tables:
        keys = [[c.name for c in table.primary_key.columns]]
        keys += [[c.name] for c in table.columns if c.unique]
        for names in keys:
            columns = ", ".join(names)
            repeated = cdp.query(
                f"select {columns}, count(*) as n from {{s}}.{table.name} "
                f"where {' and '.join(f'{n} is not null' for n in names)} "
                f"group by {columns} having count(*) > 1"
            )
            if repeated:
                found[f"{table.name}({columns})"] = repeated
    return found


def test_duckdb_keeps_no_key_indexes_postgresql_keeps_its_constraints(cdp):
    cdp.migrate()
    tables = build_tables(cdp.schema).metadata.sorted_tables
    if cdp.url.startswith("duckdb"):
        assert key_constraints(cdp) == set()
        not_null = cdp.query(
            "select table_name, constraint_column_names[1] as name from duckdb_constraints() "
            "where schema_name = '{s}' and constraint_type = 'NOT NULL'"
        )
        key_columns = {(t.name, c.name) for t in tables for c in t.primary_key.columns}
        assert key_columns <= {(r["table_name"], r["name"]) for r in not_null}
    else:
        expected = {(t.name, "PRIMARY KEY") for t in tables}
        expected |= {(name, "UNIQUE") for name in ("people", "organizations", "deals", "leads")}
        assert key_constraints(cdp) == expected


def test_keys_stay_unique_through_replays_duplicates_and_any_order(cdp):
    late = [
        *stream_of("activities", [pd_activity(5, person_id=20, deal_id=30)]),
        *stream_of("notes", [note(6, person_id=20, deal_id=30), note(6, person_id=20)]),
        *stream_of("deals", [deal(30, person_id=20, update_time=ts(2)), deal(30, person_id=20)]),
        *stream_of("persons", [person(20, "p1@acme.io"), person(21, "p1@acme.io")]),
    ]
    cdp.run(everything())
    cdp.run([*late, *everything()], batch_size_rows=2)
    cdp.run(late)
    assert repeated_keys(cdp) == {}
    assert len(cdp.rows("associations")) == len(
        {(a["from_kind"], a["from_id"], a["to_kind"], a["to_id"]) for a in cdp.rows("associations")}
    )


def test_upsert_refuses_rows_repeating_a_key(cdp):
    cdp.migrate()
    tables = build_tables(cdp.schema)
    row = {"run_id": "r1", "status": "running", "counts": {}}
    engine = sa.create_engine(cdp.url)
    with engine.begin() as conn, pytest.raises(ValueError, match=r"repeat a primary key"):
        bulk.upsert(conn, tables.sync_runs, [row, {**row, "status": "succeeded"}])
    engine.dispose()
    assert cdp.rows("sync_runs") == []


def test_upsert_updates_keeps_or_combines_stored_rows(cdp):
    cdp.migrate()
    tables = build_tables(cdp.schema)
    summary = tables.activity_summary
    first = {"person_id": "p", "activity_type": "t", "first_at": ts(9), "last_at": ts(9)}
    engine = sa.create_engine(cdp.url)
    with engine.begin() as conn:
        bulk.upsert(conn, summary, [first | {"count": 1}])
        bulk.upsert(conn, summary, [first | {"count": 5}], update=False)
        assert conn.execute(sa.select(summary.c.count)).scalar_one() == 1
        bulk.upsert(
            conn,
            summary,
            [first | {"count": 2, "last_at": ts(1)}],
            update=lambda stored, new: {
                "count": stored["count"] + new["count"],
                "last_at": sa.func.greatest(stored.last_at, new.last_at),
            },
        )
        bulk.upsert(conn, summary, [{**first, "activity_type": "u", "count": 7}])
        bulk.upsert(conn, summary, [{**first, "activity_type": "u", "count": 8}])
    engine.dispose()
    rows = {r["activity_type"]: r for r in cdp.rows("activity_summary")}
    assert (rows["t"]["count"], rows["u"]["count"]) == (3, 8)
    assert rows["t"]["last_at"].isoformat()[:19] == ts(1)[:19]
