"""PostgreSQL indexes behind cdp-view's person page and people search, on new and upgraded CDPs,
and the fallback when pg_trgm cannot be created."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from target_cdp.tables import build_tables, full_name, migrate

VIEW_INDEXES = {
    "ix_activities_person_id_occurred_at",
    "ix_people_email_trgm",
    "ix_people_full_name_trgm",
}


def indexes(conn: sa.Connection) -> set[str]:
    return set(
        conn.exec_driver_sql("select indexname from pg_indexes where schemaname = 'cdp'").scalars()
    )


def search_plan(conn: sa.Connection, tables) -> str:
    """The plan of the people search as cdp-view sends it, with sequential scans discouraged."""
    p = tables.people
    pattern = "%ada%"
    statement = sa.select(p.c.person_id).where(
        sa.or_(p.c.email.ilike(pattern, escape="/"), full_name(p).ilike(pattern, escape="/"))
    )
    conn.exec_driver_sql("set enable_seqscan = off")
    compiled = statement.compile(dialect=conn.dialect)
    return "\n".join(conn.exec_driver_sql("explain " + str(compiled), compiled.params).scalars())


@pytest.fixture
def engine(make_pg_database) -> sa.Engine:
    url = make_pg_database().replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def test_an_existing_cdp_gets_the_view_indexes_and_keeps_its_rows(engine: sa.Engine) -> None:
    tables = build_tables("cdp")
    migrate(engine, tables)
    with engine.begin() as conn:  # a CDP made before these indexes existed
        for name in VIEW_INDEXES:
            conn.exec_driver_sql(f"drop index cdp.{name}")
        conn.execute(
            tables.people.insert(),
            [{"person_id": "p1", "first_name": "Ada", "last_name": "Lovelace", "source": "crm"}],
        )
    changes = migrate(engine, tables)
    assert {"creates index ix_people_email_trgm", "creates index ix_people_full_name_trgm"} <= set(
        changes
    )
    with engine.connect() as conn:
        assert indexes(conn) >= VIEW_INDEXES
        assert conn.execute(sa.select(tables.people.c.person_id)).scalars().all() == ["p1"]
        plan = search_plan(conn, tables)
    assert "ix_people_full_name_trgm" in plan
    assert "ix_people_email_trgm" in plan
    assert migrate(engine, tables) == [], "a second migration changes nothing"


def test_without_pg_trgm_one_warning_and_search_still_works(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
    def unavailable(conn, cursor, statement, parameters, context, executemany):
        # What a server without the contrib modules answers.
        return statement.replace("EXISTS pg_trgm", "EXISTS pg_trgm_not_installed"), parameters

    tables = build_tables("cdp")
    with caplog.at_level(logging.WARNING, logger="target_cdp.tables"):
        migrate(engine, tables)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "pg_trgm could not be created" in warning
    assert "CREATE EXTENSION pg_trgm;" in warning
    with engine.begin() as conn:
        assert "ix_activities_person_id_occurred_at" in indexes(conn)
        assert not {"ix_people_email_trgm", "ix_people_full_name_trgm"} & indexes(conn)
        conn.execute(
            tables.people.insert(), [{"person_id": "p1", "first_name": "Ada", "source": "crm"}]
        )
        p = tables.people
        found = conn.execute(
            sa.select(p.c.person_id).where(full_name(p).ilike("%ada%", escape="/"))
        ).scalars()
        assert list(found) == ["p1"]
