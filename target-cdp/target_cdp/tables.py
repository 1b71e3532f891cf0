"""The CDP schema (docs/cdp-schema.md) as SQLAlchemy Core tables, and its migration.

Tables are defined here, never reflected in the hot path. ``migrate`` creates what is missing:
the schema, tables, columns of tables that exist, and indexes (it never drops a column or a
row). That is the one migration kept, and what takes a CDP made by a released version (0.1.0,
the only one so far) to this one: later versions add tables, columns and indexes. Nothing made
before 0.1.0 was released is converted: DuckDB files of its pre-release builds, which carried
key constraints, keep them (writes still merge by key, at the memory cost below).

Primary keys and unique columns are constraints on PostgreSQL only. DuckDB backs each with an
ART index that it keeps in memory and that grows with the table (at a million Pipedrive records
they held a third of the process's memory), while columnar scans find keys fast enough. On
DuckDB, key columns are NOT NULL and keys stay unique because every write merges by key
(``bulk.upsert``).
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
TEXT, BIGINT, INTEGER, BOOLEAN = sa.Text, sa.BigInteger, sa.Integer, sa.Boolean


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
    people = sa.Table(
        "people",
        md,
        _key("person_id", TEXT),
        _col("email", TEXT),
        _col("first_name", TEXT),
        _col("last_name", TEXT),
        _col("phone", TEXT),
        _col("organization_id", TEXT),
        _col("email_permission", BOOLEAN),
        _col("sms_permission", BOOLEAN),
        _col("pipedrive_person_id", BIGINT, unique=True),
        _col("pipedrive_org_id", BIGINT),
        _col("attributes", JSON),
        _col("source", TEXT),
        _col("created_at", TIMESTAMP),
        _col("updated_at", TIMESTAMP),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("pipedrive_deleted_at", TIMESTAMP),
        # Added to the contract: the person this one was merged into (Pipedrive merges).
        _col("merged_into", TEXT),
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
        _key("organization_id", TEXT),
        _col("name", TEXT),
        _col("pipedrive_org_id", BIGINT, unique=True),
        _col("attributes", JSON),
        _col("source", TEXT),
        _col("created_at", TIMESTAMP),
        _col("updated_at", TIMESTAMP),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("merged_into", TEXT),
    )
    deals = sa.Table(
        "deals",
        md,
        _key("deal_id", TEXT),
        _col("pipedrive_deal_id", BIGINT, unique=True),
        _col("person_id", TEXT),
        _col("organization_id", TEXT),
        _col("pipedrive_person_id", BIGINT),
        _col("pipedrive_org_id", BIGINT),
        _col("title", TEXT),
        _col("status", TEXT),
        _col("value", NUMERIC),
        _col("currency", TEXT),
        _col("pipeline_id", BIGINT),
        _col("stage_id", BIGINT),
        _col("add_time", TIMESTAMP),
        _col("update_time", TIMESTAMP),
        _col("stage_change_time", TIMESTAMP),
        _col("won_time", TIMESTAMP),
        _col("lost_time", TIMESTAMP),
        _col("close_time", TIMESTAMP),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("is_archived", BOOLEAN),
        _col("attributes", JSON),
    )
    _pg_index("ix_deals_pipedrive_person_id", deals.c.pipedrive_person_id)
    _pg_index("ix_deals_pipedrive_org_id", deals.c.pipedrive_org_id)
    leads = sa.Table(
        "leads",
        md,
        _key("lead_id", TEXT),
        _col("pipedrive_lead_id", TEXT, unique=True),
        _col("pipedrive_lead_key", BIGINT, unique=True),
        _col("person_id", TEXT),
        _col("organization_id", TEXT),
        _col("pipedrive_person_id", BIGINT),
        _col("pipedrive_org_id", BIGINT),
        _col("title", TEXT),
        _col("value", NUMERIC),
        _col("currency", TEXT),
        _col("owner_id", BIGINT),
        _col("source_name", TEXT),
        _col("is_archived", BOOLEAN),
        _col("add_time", TIMESTAMP),
        _col("update_time", TIMESTAMP),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("deleted_at", TIMESTAMP),
        _col("attributes", JSON),
    )
    _pg_index("ix_leads_pipedrive_person_id", leads.c.pipedrive_person_id)
    _pg_index("ix_leads_pipedrive_org_id", leads.c.pipedrive_org_id)
    activities = sa.Table(
        "activities",
        md,
        _key("activity_key", TEXT),
        _col("activity_type", TEXT, nullable=False),
        _col("person_id", TEXT),
        _col("organization_id", TEXT),
        _col("deal_id", TEXT),
        _col("occurred_at", TIMESTAMP, nullable=False),
        _col("attributes", JSON),
        _col("definition_version", INTEGER),
        _col("source", TEXT),
        _col("source_record", TEXT),
        # Added to the contract: the Pipedrive references, to resolve the CDP ids of records
        # that arrive after the activity (README, "Associations and references").
        _col("pipedrive_person_id", BIGINT),
        _col("pipedrive_org_id", BIGINT),
        _col("pipedrive_deal_id", BIGINT),
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
        _key("activity_type", TEXT),
        _key("definition_version", INTEGER),
        _col("attribute_names", JSON),
        _col("first_seen_at", TIMESTAMP),
    )
    activity_summary = sa.Table(
        "activity_summary",
        md,
        _key("person_id", TEXT),
        _key("activity_type", TEXT),
        _col("first_at", TIMESTAMP),
        _col("last_at", TIMESTAMP),
        _col("count", BIGINT, nullable=False),
    )
    associations = sa.Table(
        "associations",
        md,
        _key("from_kind", TEXT),
        _key("from_id", TEXT),
        _key("to_kind", TEXT),
        _key("to_id", TEXT),
        _col("associated_at", TIMESTAMP),
    )
    pipelines = _reference(md, "pipelines")
    stages = _reference(md, "stages", _col("pipeline_id", BIGINT), _col("order_nr", BIGINT))
    users = _reference(md, "users")
    activity_types = _reference(md, "activity_types", _col("key_string", TEXT))
    pipedrive_fields = sa.Table(
        "pipedrive_fields",
        md,
        _key("object", TEXT),
        _key("field_code", TEXT),
        _col("readable_name", TEXT),
        _col("field_name", TEXT),
        _col("field_type", TEXT),
        _col("is_custom_field", BOOLEAN),
        _col("options", JSON),
        _col("attributes", JSON),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("table_version", BIGINT),
    )
    identity_conflicts = sa.Table(
        "identity_conflicts",
        md,
        _key("conflict_key", TEXT),
        _col("pipedrive_person_id", BIGINT),
        _col("email", TEXT),
        _col("conflicting_person_id", TEXT),
        _col("conflicting_pipedrive_person_id", BIGINT),
        _col("resolution", TEXT),
        _col("detected_at", TIMESTAMP),
    )
    permission_decisions = sa.Table(
        "permission_decisions",
        md,
        _key("decision_key", TEXT),
        _col("person_id", TEXT),
        _col("pipedrive_person_id", BIGINT),
        _col("channel", TEXT),
        _col("value", BOOLEAN),
        _col("rule", TEXT),
        _col("source_value", TEXT),
        _col("decided_at", TIMESTAMP),
    )
    # Suppression reads the decisions of the people with a new person's email.
    _pg_index("ix_permission_decisions_person_id", permission_decisions.c.person_id)
    rejected_records = sa.Table(
        "rejected_records",
        md,
        _key("rejection_key", TEXT),
        _col("stream", TEXT),
        _col("record_key", TEXT),
        _col("reason", TEXT),
        _col("raw_record", JSON),
        _col("first_run_id", TEXT),
    )
    pipedrive_records = sa.Table(
        "pipedrive_records",
        md,
        _key("stream", TEXT),
        _key("pipedrive_id", BIGINT),
        _col("update_time", TIMESTAMP),
        _col("table_version", BIGINT),
        _col("is_deleted", BOOLEAN, nullable=False, server_default=sa.false()),
        _col("record", JSON),
        # Added to the contract: the record's Pipedrive references, from which associations
        # are recomputed whatever the order records arrive in.
        _col("person_ref", BIGINT),
        _col("org_ref", BIGINT),
        _col("deal_ref", BIGINT),
    )
    for ref in ("person_ref", "org_ref", "deal_ref"):
        _pg_index(f"ix_pipedrive_records_{ref}", pipedrive_records.c.stream, ref)
    sync_runs = sa.Table(
        "sync_runs",
        md,
        _key("run_id", TEXT),
        _col("started_at", TIMESTAMP),
        _col("finished_at", TIMESTAMP),
        _col("status", TEXT),
        _col("counts", JSON),
        _col("error", TEXT),
    )
    # The tap's own account of each run (tap-pipedrive's api_usage stream).
    api_usage = sa.Table(
        "api_usage",
        md,
        _key("run_id", TEXT),
        _col("started_at", TIMESTAMP),
        _col("finished_at", TIMESTAMP),
        _col("requests", BIGINT),
        _col("tokens", BIGINT),
        _col("token_budget", BIGINT),
        _col("outcome", TEXT),
        _col("streams", JSON),
        _col("sync_run_id", TEXT),
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
    """Create the schema, missing tables, columns and indexes; return what changed."""
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
        tables.metadata.create_all(conn, checkfirst=True)
        if conn.dialect.name == "postgresql":  # lookup indexes exist on PostgreSQL only
            for table in tables.metadata.sorted_tables:
                for index in table.indexes if table.name in existing else ():
                    index.create(conn, checkfirst=True)
            changes += _create_trigram_indexes(conn, tables.people)
    for change in changes:
        logger.info("Migrated the CDP schema: %s", change)
    return changes


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
