"""What each page reads from the CDP: SQLAlchemy Core statements, parameterised, one code path
for DuckDB and PostgreSQL.

Lists are paginated by keyset (the last row's sort key in the next page's URL), never by
OFFSET, so the tenth page costs what the first does. Every function takes an open connection
and returns plain data for the templates.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from target_cdp.tables import CDPTables, full_name

from cdp_view.reader import Audiences

PAGE_SIZE = 50
RUNS_SHOWN = 20
RUNS_CHARTED = 60
#: Days of API token use charted on the overview.
TOKEN_DAYS = 30
#: Count keys of ``sync_runs.counts`` shown per stream (docs/cdp-schema.md).
RUN_COUNT_KEYS = ("inserted", "updated", "deleted", "rejected")


@dataclass(frozen=True)
class Page:
    """One page of a keyset-paginated list and the cursor of the next page (None = last)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def _columns(table: sa.Table, *names: str) -> list[sa.Column]:
    """Named columns only: the CDP may have been migrated by an older or newer target-cdp,
    and a ``SELECT`` of every column this version defines would fail on a missing one."""
    return [table.c[name] for name in names]


RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "counts", "error")
ACTIVITY_COLUMNS = (
    "activity_key",
    "activity_type",
    "person_id",
    "organization_id",
    "deal_id",
    "occurred_at",
    "attributes",
)
PERSON_COLUMNS = (
    "person_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "organization_id",
    "email_permission",
    "sms_permission",
    "pipedrive_person_id",
    "attributes",
    "source",
    "created_at",
    "updated_at",
    "is_deleted",
)
CONFLICT_COLUMNS = (
    "conflict_key",
    "pipedrive_person_id",
    "email",
    "conflicting_person_id",
    "conflicting_pipedrive_person_id",
    "resolution",
    "detected_at",
)


def _rows(result: sa.CursorResult) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in result]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def source_counts(conn: sa.Connection, t: CDPTables) -> dict[str, int]:
    """People, organizations, deals (not deleted) and activities that came from Pipedrive."""
    count = sa.func.count()
    statements = {
        "people": sa.select(count).where(
            t.people.c.pipedrive_person_id.is_not(None), t.people.c.is_deleted.is_(False)
        ),
        "organizations": sa.select(count).where(
            t.organizations.c.pipedrive_org_id.is_not(None),
            t.organizations.c.is_deleted.is_(False),
        ),
        "deals": sa.select(count).where(
            t.deals.c.pipedrive_deal_id.is_not(None), t.deals.c.is_deleted.is_(False)
        ),
        "activities": sa.select(count)
        .select_from(t.activities)
        .where(t.activities.c.source == "pipedrive"),
    }
    return {name: conn.execute(statement).scalar_one() for name, statement in statements.items()}


def runs_state(conn: sa.Connection, t: CDPTables) -> tuple[Any, ...]:
    """What changes whenever a run starts, ends or commits its end: counting again is due."""
    r = t.sync_runs
    statement = sa.select(
        sa.func.count(), sa.func.max(r.c.started_at), sa.func.max(r.c.finished_at)
    ).where(r.c.status != "running")
    return tuple(conn.execute(statement).one())


def runs(conn: sa.Connection, t: CDPTables, limit: int) -> list[dict[str, Any]]:
    """The latest runs, newest first, with their counts as a dict per stream."""
    r = t.sync_runs
    statement = sa.select(*_columns(r, *RUN_COLUMNS)).order_by(r.c.started_at.desc()).limit(limit)
    rows = _rows(conn.execute(statement))
    for row in rows:
        counts = _json(row["counts"]) or {}
        row["counts"] = counts
        row["records"] = sum(
            int(c.get(k, 0)) for c in counts.values() for k in ("inserted", "updated", "deleted")
        )
        started, finished = row["started_at"], row["finished_at"]
        row["seconds"] = (finished - started).total_seconds() if started and finished else None
    return rows


def sync_status(conn: sa.Connection, t: CDPTables) -> dict[str, Any]:
    """The last successful run, the newest run if it is still running, the last failure."""
    r = t.sync_runs

    def newest(*where: Any) -> dict[str, Any] | None:
        statement = (
            sa.select(*_columns(r, *RUN_COLUMNS))
            .where(*where)
            .order_by(r.c.started_at.desc())
            .limit(1)
        )
        row = conn.execute(statement).first()
        return dict(row._mapping) if row else None

    succeeded = newest(r.c.status == "succeeded")
    latest = newest()
    failed = newest(r.c.status == "failed")
    if failed and succeeded and failed["started_at"] < succeeded["started_at"]:
        failed = None  # fixed since: a later run succeeded
    return {
        "succeeded": succeeded,
        "running": latest if latest and latest["status"] == "running" else None,
        "failed": failed,
    }


def tokens_per_day(
    conn: sa.Connection, t: CDPTables, today: dt.date, days: int = TOKEN_DAYS
) -> list[dict[str, Any]]:
    """Pipedrive API tokens and runs per UTC day (tap-pipedrive's ``api_usage``), oldest first,
    from ``days`` days before ``today`` through ``today``; days without a run are left out.

    Days are counted here, not in SQL: the engines disagree on the time zone of a timestamp's
    date, and a month of runs is a few thousand rows. A CDP migrated before ``api_usage``
    existed has no such table yet: nothing is recorded.
    """
    u = t.api_usage
    if not table_exists(conn, str(u.schema), u.name):
        return []
    since = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    statement = sa.select(u.c.started_at, u.c.tokens).where(u.c.started_at >= since)
    per_day: dict[dt.date, dict[str, Any]] = {}
    for started_at, tokens in conn.execute(statement):
        day = started_at.astimezone(dt.UTC).date()
        row = per_day.setdefault(day, {"day": day, "tokens": 0, "runs": 0})
        row["tokens"] += tokens or 0
        row["runs"] += 1
    return [per_day[day] for day in sorted(per_day)]


def rejected_records(conn: sa.Connection, t: CDPTables, limit: int) -> list[dict[str, Any]]:
    """Rejected records, newest run first, without their raw record."""
    rr, r = t.rejected_records, t.sync_runs
    statement = (
        sa.select(rr.c.rejection_key, rr.c.stream, rr.c.record_key, rr.c.reason, r.c.started_at)
        .select_from(rr.outerjoin(r, r.c.run_id == rr.c.first_run_id))
        .order_by(r.c.started_at.desc().nulls_last(), rr.c.rejection_key)
        .limit(limit)
    )
    return _rows(conn.execute(statement))


def rejected_record(conn: sa.Connection, t: CDPTables, key: str) -> dict[str, Any] | None:
    """One rejected record with its raw record."""
    rr = t.rejected_records
    columns = _columns(rr, "rejection_key", "stream", "record_key", "reason", "raw_record")
    row = conn.execute(sa.select(*columns).where(rr.c.rejection_key == key)).first()
    return dict(row._mapping) if row else None


def identity_conflicts(conn: sa.Connection, t: CDPTables, limit: int) -> list[dict[str, Any]]:
    """Identity conflicts, newest first."""
    ic = t.identity_conflicts
    statement = (
        sa.select(*_columns(ic, *CONFLICT_COLUMNS))
        .order_by(ic.c.detected_at.desc().nulls_last(), ic.c.conflict_key)
        .limit(limit)
    )
    return _rows(conn.execute(statement))


def identity_conflict(conn: sa.Connection, t: CDPTables, key: str) -> dict[str, Any] | None:
    """One identity conflict."""
    ic = t.identity_conflicts
    statement = sa.select(*_columns(ic, *CONFLICT_COLUMNS)).where(ic.c.conflict_key == key)
    row = conn.execute(statement).first()
    return dict(row._mapping) if row else None


def activity_types(conn: sa.Connection, t: CDPTables) -> list[str]:
    """Activity types the CDP has stored (from their definitions: no scan of activities)."""
    d = t.activity_definitions
    return list(
        conn.execute(sa.select(d.c.activity_type).distinct().order_by(d.c.activity_type)).scalars()
    )


def activity_feed(
    conn: sa.Connection,
    t: CDPTables,
    *,
    activity_type: str | None,
    person_id: str | None,
    cursor: str | None,
    limit: int = PAGE_SIZE,
) -> Page:
    """The newest activities, filtered, after ``cursor`` (``<occurred_at>|<activity_key>``)."""
    a = t.activities
    where = []
    if activity_type:
        where.append(a.c.activity_type == activity_type)
    if person_id:
        where.append(a.c.person_id == person_id)
    if cursor:
        at, _, key = cursor.partition("|")
        when = dt.datetime.fromisoformat(at)
        where.append(
            sa.or_(a.c.occurred_at < when, sa.and_(a.c.occurred_at == when, a.c.activity_key < key))
        )
    if not person_id:
        # The page's oldest time first, from the timestamp column alone; then the page, from
        # the rows at or after it: a columnar engine skips the older row groups, PostgreSQL
        # reads its occurred_at index, and neither sorts millions of activity keys.
        times = (
            sa.select(a.c.occurred_at)
            .where(*where)
            .order_by(a.c.occurred_at.desc())
            .limit(limit + 1)
            .subquery()
        )
        where.append(
            a.c.occurred_at >= sa.select(sa.func.min(times.c.occurred_at)).scalar_subquery()
        )
    # One person's activities are few: one pass finds and sorts them (PostgreSQL through its
    # (person_id, occurred_at) index), where the two steps above would scan twice.
    statement = (
        sa.select(*_columns(a, *ACTIVITY_COLUMNS))
        .where(*where)
        .order_by(a.c.occurred_at.desc(), a.c.activity_key.desc())
        .limit(limit + 1)
    )
    rows = _rows(conn.execute(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    people = _names(conn, t, {r["person_id"] for r in rows if r["person_id"]})
    deal_titles = _deal_titles(conn, t, {r["deal_id"] for r in rows if r["deal_id"]})
    for row in rows:
        attributes = _json(row["attributes"]) or {}
        row["changed"] = sorted((attributes.get("changes") or {}).keys())
        row["person"] = people.get(row["person_id"])
        row["deal"] = deal_titles.get(row["deal_id"])
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = f"{last['occurred_at'].isoformat()}|{last['activity_key']}"
    return Page(rows, next_cursor)


def _names(conn: sa.Connection, t: CDPTables, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    p = t.people
    statement = sa.select(p.c.person_id, p.c.first_name, p.c.last_name, p.c.email).where(
        p.c.person_id.in_(sorted(ids))
    )
    return {row.person_id: display_name(row._mapping) for row in conn.execute(statement)}


def _deal_titles(conn: sa.Connection, t: CDPTables, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    d = t.deals
    statement = sa.select(d.c.deal_id, d.c.title).where(d.c.deal_id.in_(sorted(ids)))
    return {row.deal_id: row.title or row.deal_id for row in conn.execute(statement)}


def display_name(person: Any) -> str:
    """A person's name, else their email, else their id."""
    name = " ".join(part for part in (person["first_name"], person["last_name"]) if part)
    return name or person["email"] or person["person_id"]


def people(conn: sa.Connection, t: CDPTables, *, search: str | None, cursor: str | None) -> Page:
    """People imported from Pipedrive, by id, matching ``search`` in name or email."""
    p = t.people
    where = [p.c.pipedrive_person_id.is_not(None)]
    if search:
        text = search.strip()
        # An ESCAPE clause only when the text holds a wildcard: DuckDB runs a plain
        # '%text%' as a substring search, faster than its escaping matcher.
        escape = "/" if any(c in text for c in "/%_") else None
        if escape:
            text = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
        pattern = f"%{text}%"
        # The expression target-cdp's trigram index holds (PostgreSQL with pg_trgm).
        name = full_name(p)
        where.append(
            sa.or_(p.c.email.ilike(pattern, escape=escape), name.ilike(pattern, escape=escape))
        )
    if cursor:
        where.append(p.c.person_id > cursor)
    columns = (
        p.c.person_id,
        p.c.first_name,
        p.c.last_name,
        p.c.email,
        p.c.email_permission,
        p.c.sms_permission,
        p.c.pipedrive_person_id,
        p.c.is_deleted,
    )
    statement = sa.select(*columns).where(*where).order_by(p.c.person_id).limit(PAGE_SIZE + 1)
    rows = _rows(conn.execute(statement))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:
        row["name"] = display_name(row)
    return Page(rows, rows[-1]["person_id"] if more and rows else None)


def person(conn: sa.Connection, t: CDPTables, person_id: str) -> dict[str, Any] | None:
    """One person with their attributes and activity summary."""
    p, s = t.people, t.activity_summary
    statement = sa.select(*_columns(p, *PERSON_COLUMNS)).where(p.c.person_id == person_id)
    row = conn.execute(statement).first()
    if row is None:
        return None
    found = dict(row._mapping)
    found["name"] = display_name(found)
    found["attributes"] = _json(found["attributes"]) or {}
    summary = (
        sa.select(*_columns(s, "activity_type", "count", "first_at", "last_at"))
        .where(s.c.person_id == person_id)
        .order_by(s.c.last_at.desc())
    )
    found["summary"] = _rows(conn.execute(summary))
    return found


def audiences_built(conn: sa.Connection, schema: str) -> bool:
    """Whether dbt has built the audience history tables (transform/) in ``schema``."""
    return table_exists(conn, schema, "audience_builds")


def table_exists(conn: sa.Connection, schema: str, table: str) -> bool:
    """Whether ``schema`` (``catalog.schema`` on DuckDB) holds ``table``."""
    catalog, _, name = schema.rpartition(".")
    tables = sa.table(
        "tables",
        sa.column("table_catalog"),
        sa.column("table_schema"),
        sa.column("table_name"),
        schema="information_schema",
    )
    where = [tables.c.table_schema == name, tables.c.table_name == table]
    if catalog:
        where.append(tables.c.table_catalog == catalog)
    return conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one() > 0


def person_stints(conn: sa.Connection, aud: Audiences, member_id: str) -> list[dict[str, Any]]:
    """Every audience stint of one member."""
    m = aud.membership
    statement = (
        sa.select(m.c.audience, m.c.stint_number, m.c.entered_at, m.c.exited_at)
        .where(m.c.member_id == member_id)
        .order_by(m.c.audience, m.c.stint_number)
    )
    return _rows(conn.execute(statement))


def audience_sizes(conn: sa.Connection, aud: Audiences) -> list[dict[str, Any]]:
    """Each audience with its current members (open stints) and stints ever."""
    m = aud.membership
    statement = (
        sa.select(
            m.c.audience,
            sa.func.min(m.c.member_kind).label("member_kind"),
            sa.func.count().filter(m.c.exited_at.is_(None)).label("members"),
            sa.func.count().label("stints"),
        )
        .group_by(m.c.audience)
        .order_by(m.c.audience)
    )
    return _rows(conn.execute(statement))


def audience_members(
    conn: sa.Connection, t: CDPTables, aud: Audiences, audience: str, cursor: str | None
) -> Page:
    """Current members of one audience (open stints), by member id."""
    m = aud.membership
    where = [m.c.audience == audience, m.c.exited_at.is_(None)]
    if cursor:
        where.append(m.c.member_id > cursor)
    statement = (
        sa.select(m.c.member_id, m.c.member_kind, m.c.stint_number, m.c.entered_at)
        .where(*where)
        .order_by(m.c.member_id)
        .limit(PAGE_SIZE + 1)
    )
    rows = _rows(conn.execute(statement))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    names = _names(conn, t, {r["member_id"] for r in rows if r["member_kind"] == "person"})
    titles = _deal_titles(conn, t, {r["member_id"] for r in rows if r["member_kind"] == "deal"})
    for row in rows:
        row["label"] = names.get(row["member_id"]) or titles.get(row["member_id"])
    return Page(rows, rows[-1]["member_id"] if more and rows else None)


def audience_builds(conn: sa.Connection, aud: Audiences, audience: str) -> list[dict[str, Any]]:
    """Entries and exits of one audience per build (``as_of``), newest build first.

    Stints enter and exit at a build's ``as_of``: one grouped pass over the audience's stints
    for each, matched to the builds here.
    """
    m, b = aud.membership, aud.builds
    builds = list(
        conn.execute(sa.select(b.c.as_of).order_by(b.c.as_of.desc()).limit(RUNS_SHOWN)).scalars()
    )
    if not builds:
        return []

    def per_build(column: sa.ColumnElement) -> dict[Any, int]:
        statement = (
            sa.select(column, sa.func.count())
            .where(m.c.audience == audience, column.in_(builds))
            .group_by(column)
        )
        return dict(conn.execute(statement).tuples().all())

    entered, exited = per_build(m.c.entered_at), per_build(m.c.exited_at)
    return [
        {"as_of": as_of, "entered": entered.get(as_of, 0), "exited": exited.get(as_of, 0)}
        for as_of in builds
    ]
