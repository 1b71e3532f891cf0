"""``audience_changes``: one record per entry into or exit from an audience stint.

Read from dbt's ``audience_membership`` (one row per audience, member and stint) and joined to
the CDP: the member's person (a deal's person for deal audiences), the deal, and the audience
model's own row for the member as it is now (``{}`` once the member has left the model). The
record names are the interface target-pipedrive's templates see (target-pipedrive/README.md).
Incremental on ``changed_at`` with the bookmark of ``bookmark.py``: each change is emitted
once across runs, also when several builds share an ``as_of``.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.singerlib import CatalogEntry, MetadataMapping, Schema

from tap_cdp.bookmark import ChangeBookmark, utc
from tap_cdp.client import CDPConnector, json_value, parse_json

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_cdp.tap import TapCDP

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
    "pipedrive_org_id",
    "source",
    "created_at",
    "updated_at",
    "attributes",
)
DEAL_COLUMNS = (
    "deal_id",
    "pipedrive_deal_id",
    "title",
    "status",
    "value",
    "currency",
    "pipeline_id",
    "stage_id",
    "person_id",
    "organization_id",
    "pipedrive_person_id",
    "pipedrive_org_id",
    "add_time",
    "update_time",
    "won_time",
    "lost_time",
    "close_time",
    "attributes",
)
#: The column of an audience model holding the member's CDP id, by member kind.
MEMBER_COLUMN = {"person": "person_id", "deal": "deal_id"}
#: Ids per IN (...) list.
CHUNK = 1000

_TIME = th.DateTimeType
_ANY_OBJECT = th.ObjectType(additional_properties=True)
PERSON = th.ObjectType(
    th.Property("person_id", th.StringType),
    th.Property("email", th.StringType),
    th.Property("first_name", th.StringType),
    th.Property("last_name", th.StringType),
    th.Property("phone", th.StringType),
    th.Property("organization_id", th.StringType),
    th.Property("email_permission", th.BooleanType),
    th.Property("sms_permission", th.BooleanType),
    th.Property("pipedrive_person_id", th.IntegerType),
    th.Property("pipedrive_org_id", th.IntegerType),
    th.Property("source", th.StringType),
    th.Property("created_at", _TIME),
    th.Property("updated_at", _TIME),
    th.Property("attributes", _ANY_OBJECT),
    additional_properties=True,
)
DEAL = th.ObjectType(
    th.Property("deal_id", th.StringType),
    th.Property("pipedrive_deal_id", th.IntegerType),
    th.Property("title", th.StringType),
    th.Property("status", th.StringType),
    th.Property("value", th.NumberType),
    th.Property("currency", th.StringType),
    th.Property("pipeline_id", th.IntegerType),
    th.Property("stage_id", th.IntegerType),
    th.Property("person_id", th.StringType),
    th.Property("organization_id", th.StringType),
    th.Property("pipedrive_person_id", th.IntegerType),
    th.Property("pipedrive_org_id", th.IntegerType),
    th.Property("add_time", _TIME),
    th.Property("update_time", _TIME),
    th.Property("won_time", _TIME),
    th.Property("lost_time", _TIME),
    th.Property("close_time", _TIME),
    th.Property("attributes", _ANY_OBJECT),
    additional_properties=True,
)
SCHEMA = th.PropertiesList(
    th.Property("change_id", th.StringType, required=True),
    th.Property("audience", th.StringType, required=True),
    th.Property("event", th.StringType, required=True, allowed_values=["entered", "exited"]),
    th.Property("member_kind", th.StringType, required=True, allowed_values=["person", "deal"]),
    th.Property("stint_number", th.IntegerType, required=True),
    th.Property("entered_at", _TIME, required=True),
    th.Property("exited_at", _TIME),
    th.Property("changed_at", _TIME, required=True),
    th.Property("person_id", th.StringType),
    th.Property("deal_id", th.StringType),
    th.Property("person", PERSON),
    th.Property("deal", DEAL),
    th.Property("row", _ANY_OBJECT, required=True),
).to_dict()


def catalog_entry() -> dict[str, t.Any]:
    """The stream's entry in the discovered catalog."""
    return CatalogEntry(
        tap_stream_id=AudienceChangesStream.name,
        stream=AudienceChangesStream.name,
        key_properties=["change_id"],
        schema=Schema.from_dict(SCHEMA),
        replication_method="INCREMENTAL",
        replication_key="changed_at",
        metadata=MetadataMapping.get_standard_metadata(
            schema=SCHEMA,
            replication_method="INCREMENTAL",
            key_properties=["change_id"],
            valid_replication_keys=["changed_at"],
        ),
    ).to_dict()


class AudienceChangesStream(Stream):
    """Entries into and exits from audience stints, each emitted once."""

    name = "audience_changes"
    primary_keys = ("change_id",)
    replication_key = "changed_at"
    is_sorted = True
    schema = SCHEMA

    def __init__(self, tap: TapCDP, connector: CDPConnector) -> None:
        self.connector = connector
        super().__init__(tap=tap, schema=SCHEMA, name=self.name)

    def _relation(self, schema: str, name: str) -> sa.TableClause:
        return sa.table(name, schema=self.connector.qualified(schema))

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        state = self.get_context_state(context)
        bookmark = ChangeBookmark.from_state(
            self.get_starting_replication_key_value(context), state.get("sent_at_bookmark")
        )
        with self.connector.reading("reading audience changes") as conn:
            changes = self._changes(conn, bookmark)
            people, deals, rows = self._members(conn, changes)
        self.connector._engine.dispose()
        for change in changes:
            deal = deals.get(change["member_id"]) if change["member_kind"] == "deal" else None
            person_id = deal["person_id"] if deal else change["member_id"]
            if change["member_kind"] == "deal" and deal is None:
                person_id = None
            record = {
                "change_id": change["change_id"],
                "audience": change["audience"],
                "event": change["event"],
                "member_kind": change["member_kind"],
                "stint_number": change["stint_number"],
                "entered_at": json_value(change["entered_at"]),
                "exited_at": json_value(change["exited_at"]),
                "changed_at": json_value(change["changed_at"]),
                "person_id": person_id,
                "deal_id": change["member_id"] if change["member_kind"] == "deal" else None,
                "person": people.get(person_id) if person_id else None,
                "deal": deal,
                "row": rows.get((change["audience"], change["member_id"]), {}),
            }
            bookmark.advance(change["changed_at"], change["change_id"])
            state["sent_at_bookmark"] = bookmark.state_entry()
            yield record

    def _changes(self, conn: sa.Connection, bookmark: ChangeBookmark) -> list[dict[str, t.Any]]:
        """The changes at or after the bookmark that were not sent, in ``changed_at`` order."""
        membership = self._relation(
            self.config.get("audience_schema", "audiences"), "audience_membership"
        )
        columns = ("membership_id", "audience", "member_kind", "member_id", "stint_number")
        m = sa.table(
            membership.name,
            *map(sa.column, (*columns, "entered_at", "exited_at")),
            schema=membership.schema,
        )
        base = [m.c[name] for name in columns] + [m.c.entered_at, m.c.exited_at]
        entered = sa.select(
            *base, sa.literal("entered").label("event"), m.c.entered_at.label("changed_at")
        )
        exited = sa.select(
            *base, sa.literal("exited").label("event"), m.c.exited_at.label("changed_at")
        ).where(m.c.exited_at.is_not(None))
        union = sa.union_all(entered, exited).subquery("changes")
        query = sa.select(union)
        if bookmark.changed_at is not None:
            query = query.where(union.c.changed_at >= bookmark.changed_at)
        query = query.order_by(union.c.changed_at, union.c.membership_id, union.c.event)
        changes = []
        for row in conn.execute(query).mappings():
            change = dict(row)
            change["changed_at"] = utc(change["changed_at"])
            change["change_id"] = f"{change['membership_id']}:{change['event']}"
            if bookmark.owes(change["changed_at"], change["change_id"]):
                changes.append(change)
        return changes

    def _members(
        self, conn: sa.Connection, changes: list[dict[str, t.Any]]
    ) -> tuple[dict[str, dict], dict[str, dict], dict[tuple[str, str], dict]]:
        """The people, deals and audience rows the changes name, by id."""
        cdp = self.config.get("schema", "cdp")
        deal_ids = {c["member_id"] for c in changes if c["member_kind"] == "deal"}
        deals = self._by_id(conn, cdp, "deals", "deal_id", DEAL_COLUMNS, deal_ids)
        person_ids = {c["member_id"] for c in changes if c["member_kind"] == "person"}
        person_ids |= {d["person_id"] for d in deals.values() if d["person_id"]}
        people = self._by_id(conn, cdp, "people", "person_id", PERSON_COLUMNS, person_ids)
        rows: dict[tuple[str, str], dict] = {}
        audiences = {(c["audience"], c["member_kind"]) for c in changes}
        for audience, kind in sorted(audiences):
            ids = {c["member_id"] for c in changes if c["audience"] == audience}
            column = MEMBER_COLUMN[kind]
            found = self._by_id(
                conn, self.config.get("audience_schema", "audiences"), audience, column, None, ids
            )
            rows.update(((audience, member), row) for member, row in found.items())
        return people, deals, rows

    def _by_id(
        self,
        conn: sa.Connection,
        schema: str,
        name: str,
        key: str,
        columns: tuple[str, ...] | None,
        ids: set[str],
    ) -> dict[str, dict[str, t.Any]]:
        """Rows of a table whose ``key`` is one of ``ids`` (every column when ``columns`` is
        None), JSON-ready."""
        found: dict[str, dict[str, t.Any]] = {}
        ordered = sorted(ids)
        table = sa.table(
            name, *map(sa.column, columns or (key,)), schema=self.connector.qualified(schema)
        )
        selected = (
            sa.select(*table.columns) if columns else sa.select(sa.text("*")).select_from(table)
        )
        for start in range(0, len(ordered), CHUNK):
            query = selected.where(sa.column(key).in_(ordered[start : start + CHUNK]))
            for row in conn.execute(query).mappings():
                record = {
                    column: parse_json(value) if column == "attributes" else value
                    for column, value in row.items()
                }
                found[record[key]] = json_value(record)
        return found
