"""The CDP schema (docs/cdp-schema.md) as SQLAlchemy Core tables, and its migration.

Tables are defined here, never reflected in the hot path. ``migrate`` creates what is missing
and adds missing columns to tables that exist (it never drops a column or a row).

Primary keys and unique columns are constraints on PostgreSQL only. DuckDB backs each with an
ART index that it keeps in memory and that grows with the table (at a million Pipedrive records
they held a third of the process's memory), while columnar scans find keys fast enough. On
DuckDB, key columns are NOT NULL and keys stay unique because every write merges by key
(``bulk.upsert``); tables an earlier version created with the constraints are rebuilt without
them, rows and all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

logger = logging.getLogger(__name__)

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
NUMERIC = sa.Numeric(38, 6)


def _key(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    # autoincrement=False: duckdb-engine would otherwise render SERIAL, which DuckDB rejects.
    return sa.Column(name, type_, primary_key=True, autoincrement=False)


def _col(name: str, type_: sa.types.TypeEngine, **kwargs: object) -> sa.Column:
    return sa.Column(name, type_, **kwargs)


def full_name(people: sa.Table) -> sa.ColumnElement[str]:
    """``first_name last_name`` as one text, the expression the name search index holds.

    Its constants are literals, not bound parameters: PostgreSQL matches an expression index
    only to the same expression, and a parameter is not the same as a constant once psycopg
    prepares the statement.
    """
    empty, space = sa.literal_column("''"), sa.literal_column("' '")
    return (
        sa.func.coalesce(people.c.first_name, empty)
        + space
        + sa.func.coalesce(people.c.last_name, empty)
    )


#: Trigram indexes (pg_trgm) behind substring search of people by email and name (cdp-view's
#: people search: ``ILIKE '%text%'``, which no b-tree serves). Made only where pg_trgm exists.
TRIGRAM_INDEXES = {
    "ix_people_email_trgm": "email {ops}",
    "ix_people_full_name_trgm": (
        "(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) {ops}"
    ),
}


def _pg_index(name: str, *columns: sa.Column | str) -> sa.Index:
    # Lookup indexes help PostgreSQL; DuckDB scans columnar data faster than it maintains ART
    # indexes on every write, so they are created on PostgreSQL only.
    return sa.Index(name, *columns).ddl_if(dialect="postgresql")


@dataclass(frozen=True)
class CDPTables:
    """Every table of the CDP schema, bound to one database schema."""

    metadata: sa.MetaData
    people: sa.Table
    organizations: sa.Table
    deals: sa.Table
    leads: sa.Table
    activities: sa.Table
    activity_definitions: sa.Table
    activity_summary: sa.Table
    associations: sa.Table
    pipelines: sa.Table
    stages: sa.Table
    users: sa.Table
    activity_types: sa.Table
    pipedrive_fields: sa.Table
    identity_conflicts: sa.Table
    permission_decisions: sa.Table
    rejected_records: sa.Table
    pipedrive_records: sa.Table
    sync_runs: sa.Table
    api_usage: sa.Table


def _reference(md: sa.MetaData, name: str, *extra: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        md,
        _key("id", sa.BigInteger),
        _col("name", sa.Text),
        *extra,
        _col("attributes", JSON),
        _col("is_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        _col("table_version", sa.BigInteger),
    )


def build_tables(schema: str) -> CDPTables:
    """Define the CDP tables in ``schema``."""
    md = sa.MetaData(schema=schema)
    T, B, I, X = sa.Text, sa.BigInteger, sa.Integer, sa.Boolean  # noqa: N806, E741
    people = sa.Table(
        "people",
        md,
        _key("person_id", T),
        _col("email", T),
        _col("first_name", T),
        _col("last_name", T),
        _col("phone", T),
        _col("organization_id", T),
        _col("email_permission", X),
        _col("sms_permission", X),
        _col("pipedrive_person_id", B, unique=True),
        _col("pipedrive_org_id", B),
        _col("attributes", JSON),
        _col("source", T),
        _col("created_at", TIMESTAMP),
        _col("updated_at", TIMESTAMP),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("pipedrive_deleted_at", TIMESTAMP),
        # Added to the contract: the person this one was merged into (Pipedrive merges).
        _col("merged_into", T),
    )
    _pg_index("ix_people_email", people.c.email)
    # Identity looks people up by their email as compared (other sources store it as they like).
    _pg_index("ix_people_email_key", sa.func.lower(sa.func.trim(people.c.email)))
    _pg_index("ix_people_pipedrive_org_id", people.c.pipedrive_org_id)
    # Suppression reads the decisions of people merged into a person with its email.
    _pg_index("ix_people_merged_into", people.c.merged_into)
    organizations = sa.Table(
        "organizations",
        md,
        _key("organization_id", T),
        _col("name", T),
        _col("pipedrive_org_id", B, unique=True),
        _col("attributes", JSON),
        _col("source", T),
        _col("created_at", TIMESTAMP),
        _col("updated_at", TIMESTAMP),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("merged_into", T),
    )
    deals = sa.Table(
        "deals",
        md,
        _key("deal_id", T),
        _col("pipedrive_deal_id", B, unique=True),
        _col("person_id", T),
        _col("organization_id", T),
        _col("pipedrive_person_id", B),
        _col("pipedrive_org_id", B),
        _col("title", T),
        _col("status", T),
        _col("value", NUMERIC),
        _col("currency", T),
        _col("pipeline_id", B),
        _col("stage_id", B),
        _col("add_time", TIMESTAMP),
        _col("update_time", TIMESTAMP),
        _col("stage_change_time", TIMESTAMP),
        _col("won_time", TIMESTAMP),
        _col("lost_time", TIMESTAMP),
        _col("close_time", TIMESTAMP),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("is_archived", X),
        _col("attributes", JSON),
    )
    _pg_index("ix_deals_pipedrive_person_id", deals.c.pipedrive_person_id)
    _pg_index("ix_deals_pipedrive_org_id", deals.c.pipedrive_org_id)
    leads = sa.Table(
        "leads",
        md,
        _key("lead_id", T),
        _col("pipedrive_lead_id", T, unique=True),
        _col("pipedrive_lead_key", B, unique=True),
        _col("person_id", T),
        _col("organization_id", T),
        _col("pipedrive_person_id", B),
        _col("pipedrive_org_id", B),
        _col("title", T),
        _col("value", NUMERIC),
        _col("currency", T),
        _col("owner_id", B),
        _col("source_name", T),
        _col("is_archived", X),
        _col("add_time", TIMESTAMP),
        _col("update_time", TIMESTAMP),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("attributes", JSON),
    )
    _pg_index("ix_leads_pipedrive_person_id", leads.c.pipedrive_person_id)
    _pg_index("ix_leads_pipedrive_org_id", leads.c.pipedrive_org_id)
    activities = sa.Table(
        "activities",
        md,
        _key("activity_key", T),
        _col("activity_type", T, nullable=False),
        _col("person_id", T),
        _col("organization_id", T),
        _col("deal_id", T),
        _col("occurred_at", TIMESTAMP, nullable=False),
        _col("attributes", JSON),
        _col("definition_version", I),
        _col("source", T),
        _col("source_record", T),
        # Added to the contract: the Pipedrive references, to resolve the CDP ids of records
        # that arrive after the activity (see README "Reference resolution").
        _col("pipedrive_person_id", B),
        _col("pipedrive_org_id", B),
        _col("pipedrive_deal_id", B),
    )
    _pg_index("ix_activities_occurred_at", activities.c.occurred_at)
    # A person's activities, newest first (cdp-view's person page and feed filter).
    _pg_index(
        "ix_activities_person_id_occurred_at", activities.c.person_id, activities.c.occurred_at
    )
    for ref in ("pipedrive_person_id", "pipedrive_org_id", "pipedrive_deal_id"):
        _pg_index(f"ix_activities_{ref}", activities.c[ref])
    activity_definitions = sa.Table(
        "activity_definitions",
        md,
        _key("activity_type", T),
        _key("definition_version", I),
        _col("attribute_names", JSON),
        _col("first_seen_at", TIMESTAMP),
    )
    activity_summary = sa.Table(
        "activity_summary",
        md,
        _key("person_id", T),
        _key("activity_type", T),
        _col("first_at", TIMESTAMP),
        _col("last_at", TIMESTAMP),
        _col("count", B, nullable=False),
    )
    associations = sa.Table(
        "associations",
        md,
        _key("from_kind", T),
        _key("from_id", T),
        _key("to_kind", T),
        _key("to_id", T),
        _col("associated_at", TIMESTAMP),
    )
    pipelines = _reference(md, "pipelines")
    stages = _reference(md, "stages", _col("pipeline_id", B), _col("order_nr", B))
    users = _reference(md, "users")
    activity_types = _reference(md, "activity_types", _col("key_string", T))
    pipedrive_fields = sa.Table(
        "pipedrive_fields",
        md,
        _key("object", T),
        _key("field_code", T),
        _col("readable_name", T),
        _col("field_name", T),
        _col("field_type", T),
        _col("is_custom_field", X),
        _col("options", JSON),
        _col("attributes", JSON),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("table_version", B),
    )
    identity_conflicts = sa.Table(
        "identity_conflicts",
        md,
        _key("conflict_key", T),
        _col("pipedrive_person_id", B),
        _col("email", T),
        _col("conflicting_person_id", T),
        _col("conflicting_pipedrive_person_id", B),
        _col("resolution", T),
        _col("detected_at", TIMESTAMP),
    )
    permission_decisions = sa.Table(
        "permission_decisions",
        md,
        _key("decision_key", T),
        _col("person_id", T),
        _col("pipedrive_person_id", B),
        _col("channel", T),
        _col("value", X),
        _col("rule", T),
        _col("source_value", T),
        _col("decided_at", TIMESTAMP),
    )
    # Suppression reads the decisions of the people with a new person's email.
    _pg_index("ix_permission_decisions_person_id", permission_decisions.c.person_id)
    rejected_records = sa.Table(
        "rejected_records",
        md,
        _key("rejection_key", T),
        _col("stream", T),
        _col("record_key", T),
        _col("reason", T),
        _col("raw_record", JSON),
        _col("first_run_id", T),
    )
    pipedrive_records = sa.Table(
        "pipedrive_records",
        md,
        _key("stream", T),
        _key("pipedrive_id", B),
        _col("update_time", TIMESTAMP),
        _col("table_version", B),
        _col("is_deleted", X, nullable=False, server_default=sa.false()),
        _col("record", JSON),
        # Added to the contract: the record's Pipedrive references, from which associations
        # are recomputed whatever the order records arrive in.
        _col("person_ref", B),
        _col("org_ref", B),
        _col("deal_ref", B),
    )
    for ref in ("person_ref", "org_ref", "deal_ref"):
        _pg_index(f"ix_pipedrive_records_{ref}", pipedrive_records.c.stream, ref)
    sync_runs = sa.Table(
        "sync_runs",
        md,
        _key("run_id", T),
        _col("started_at", TIMESTAMP),
        _col("finished_at", TIMESTAMP),
        _col("status", T),
        _col("counts", JSON),
        _col("error", T),
    )
    # The tap's own account of each run (tap-pipedrive's api_usage stream).
    api_usage = sa.Table(
        "api_usage",
        md,
        _key("run_id", T),
        _col("started_at", TIMESTAMP),
        _col("finished_at", TIMESTAMP),
        _col("requests", B),
        _col("tokens", B),
        _col("token_budget", B),
        _col("outcome", T),
        _col("streams", JSON),
        _col("sync_run_id", T),
    )
    _pg_index("ix_api_usage_started_at", api_usage.c.started_at)
    for table in md.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, sa.PrimaryKeyConstraint | sa.UniqueConstraint):
                constraint.ddl_if(dialect="postgresql")
    return CDPTables(
        metadata=md,
        people=people,
        organizations=organizations,
        deals=deals,
        leads=leads,
        activities=activities,
        activity_definitions=activity_definitions,
        activity_summary=activity_summary,
        associations=associations,
        pipelines=pipelines,
        stages=stages,
        users=users,
        activity_types=activity_types,
        pipedrive_fields=pipedrive_fields,
        identity_conflicts=identity_conflicts,
        permission_decisions=permission_decisions,
        rejected_records=rejected_records,
        pipedrive_records=pipedrive_records,
        sync_runs=sync_runs,
        api_usage=api_usage,
    )


def migrate(engine: sa.Engine, tables: CDPTables) -> list[str]:
    """Create the schema and missing tables, add missing columns; return what was changes."""
    schema = tables.metadata.schema
    changes: list[str] = []
    with engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names(schema=schema))
        for table in tables.metadata.sorted_tables:
            if table.name not in existing:
                continue
            present = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl = column.type.compile(dialect=conn.dialect)
                default = ""
                if column.server_default is not None:
                    default = " DEFAULT false"
                preparer = conn.dialect.identifier_preparer
                conn.exec_driver_sql(
                    f"ALTER TABLE {preparer.format_table(table)} "
                    f"ADD COLUMN {preparer.quote(column.name)} {ddl}{default}"
                )
                changes.append(f"changes column {table.name}.{column.name}")
        if conn.dialect.name == "duckdb":
            changes += _drop_duckdb_key_indexes(conn, tables, existing)
        tables.metadata.create_all(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":  # lookup indexes exist on PostgreSQL only
            for table in tables.metadata.sorted_tables:
                for index in table.indexes if table.name in existing else ():
                    index.create(conn, checkfirst=True)
            changes += _create_trigram_indexes(conn, tables.people)
    for change in changes:
        logger.info("Migrated the CDP schema: %s", change)
    return changes


def _drop_duckdb_key_indexes(
    conn: sa.Connection, tables: CDPTables, existing: set[str]
) -> list[str]:
    """Rebuild DuckDB tables that still carry key constraints (and their ART indexes)."""
    catalog, _, schema = str(tables.metadata.schema).rpartition(".")
    keyed = set(
        conn.exec_driver_sql(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE database_name = ? "
            "AND schema_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            (catalog or conn.exec_driver_sql("SELECT current_database()").scalar_one(), schema),
        ).scalars()
    )
    rebuilt = []
    preparer = conn.dialect.identifier_preparer
    for table in tables.metadata.sorted_tables:
        if table.name not in keyed or table.name not in existing:
            continue
        old = f"{table.name}__keyed"
        columns = ", ".join(preparer.quote(c.name) for c in table.columns)
        conn.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} RENAME TO {preparer.quote(old)}"
        )
        table.create(conn)
        old_table = preparer.format_table(sa.table(old, schema=table.schema))
        conn.exec_driver_sql(
            f"INSERT INTO {preparer.format_table(table)} ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM {old_table}"
        )
        conn.exec_driver_sql(f"DROP TABLE {old_table}")
        rebuilt.append(f"rebuilt {table.name} without key indexes")
    return rebuilt


def _create_trigram_indexes(conn: sa.Connection, people: sa.Table) -> list[str]:
    """Create the people search's trigram indexes, and pg_trgm first if it is missing.

    pg_trgm ships with PostgreSQL and is a trusted extension (since PostgreSQL 13, a database
    owner may create it), but a role without that right, or a server without the contrib
    modules, cannot: then one warning says what to run, and search scans ``people`` instead.
    """
    where_installed = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    extension_schema = conn.exec_driver_sql(where_installed).scalar()
    if extension_schema is None:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            logger.warning(
                "PostgreSQL extension pg_trgm could not be created (%s): searching people by "
                "name or email scans the whole table. A superuser can run "
                "'CREATE EXTENSION pg_trgm;' in this database; the next run adds the indexes.",
                reason,
            )
            return []
        extension_schema = conn.exec_driver_sql(where_installed).scalar_one()
    preparer = conn.dialect.identifier_preparer
    # The operator class is named with its schema: the extension may live outside search_path.
    operator_class = f"{preparer.quote_schema(extension_schema)}.gin_trgm_ops"
    existing = {index["name"] for index in sa.inspect(conn).get_indexes(people.name, people.schema)}
    created = []
    for name, definition in TRIGRAM_INDEXES.items():
        if name in existing:
            continue
        conn.exec_driver_sql(
            f"CREATE INDEX {preparer.quote(name)} ON {preparer.format_table(people)} "
            f"USING gin ({definition.format(ops=operator_class)})"
        )
        created.append(f"creates index {name}")
    return created
