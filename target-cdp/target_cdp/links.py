"""Links between records: direct references resolved late, and capped associations.

Records may arrive in any order (a deal before its person, a person before its organization),
so links are resolved from both ends: when a record is written its references are looked up,
and when a referenced record is written later, rows that were waiting for it are filled in.
Associations are recomputed from ``pipedrive_records`` for every record whose set of linked
records may have changed, which gives the same rows whatever the arrival order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from target_cdp import bulk
from target_cdp.bulk import among
from target_cdp.registry import ASSOCIATIONS, STREAM_OF_LINK_KIND
from target_cdp.registry import TABLED_KINDS as KINDS
from target_cdp.settings import Settings
from target_cdp.tables import CDPTables


def current_id(table: sa.Table, kind: str) -> sa.ColumnElement:
    """The CDP id a row of this kind stands for now: the row it was merged into, else its own."""
    spec = KINDS[kind]
    own = table.c[spec.id_column]
    return sa.func.coalesce(table.c.merged_into, own) if spec.merges else own


PRIMARY_KEY = ("from_kind", "from_id", "to_kind", "to_id")


@dataclass(frozen=True)
class ChildLinks:
    """A changed record's references (``person_ref``...) before and after, as a linked record."""

    to_id: str
    at: dt.datetime | None
    old: dict[str, int | None]
    new: dict[str, int | None]


class Links:
    """Resolves references and maintains ``associations`` for one CDP schema."""

    def __init__(self, tables: CDPTables, settings: Settings) -> None:
        self.tables = tables
        self.settings = settings

    def cdp_ids(
        self,
        conn: sa.Connection,
        kind: str,
        pipedrive_ids: Collection[int],
        *,
        follow_merges: bool = True,
    ) -> dict[int, str]:
        """CDP ids of the records linked to these Pipedrive ids (those that exist).

        A row merged into another stands for the row it was merged into, unless
        ``follow_merges`` is false (a sink writing the rows themselves).
        """
        spec = KINDS[kind]
        table = getattr(self.tables, spec.table)
        pd_col = table.c[spec.pipedrive_column]
        id_col = current_id(table, kind) if follow_merges else table.c[spec.id_column]
        found: dict[int, str] = {}
        wanted = {i for i in pipedrive_ids if isinstance(i, int)}
        if wanted:
            found.update(conn.execute(sa.select(pd_col, id_col).where(among(pd_col, wanted))).all())
        return found

    def recompute(self, conn: sa.Connection, kind: str, pipedrive_ids: Collection[int]) -> int:
        """Rebuild the associations of these records; return how many links the cap cut."""
        parents = self.cdp_ids(conn, kind, pipedrive_ids)
        if not parents:
            return 0
        a, r = self.tables.associations, self.tables.pipedrive_records
        cap = self.settings.max_associations
        cut = 0
        conn.execute(
            sa.delete(a).where(a.c.from_kind == kind, among(a.c.from_id, parents.values()))
        )
        for from_kind, to_kind, child_stream, ref_name in ASSOCIATIONS:
            if from_kind != kind:
                continue
            ref = r.c[ref_name]
            source: sa.FromClause = r
            to_id: sa.ColumnElement = sa.cast(r.c.pipedrive_id, sa.Text)
            if to_kind in KINDS:
                child = getattr(self.tables, KINDS[to_kind].table)
                source = r.join(child, child.c[KINDS[to_kind].pipedrive_column] == r.c.pipedrive_id)
                to_id = child.c[KINDS[to_kind].id_column]
            ranked = (
                sa.select(
                    ref.label("parent"),
                    to_id.label("to_id"),
                    r.c.update_time.label("at"),
                    sa.func.row_number()
                    .over(
                        partition_by=ref,
                        order_by=(r.c.update_time.desc().nulls_last(), to_id.desc()),
                    )
                    .label("rn"),
                )
                .select_from(source)
                .where(r.c.stream == child_stream, among(ref, parents), r.c.is_deleted.is_(False))
                .subquery()
            )
            parent = getattr(self.tables, KINDS[kind].table)
            rows = (
                sa.select(
                    sa.literal(kind),
                    current_id(parent, kind),
                    sa.literal(to_kind),
                    ranked.c.to_id,
                    ranked.c.at,
                )
                .join_from(
                    ranked, parent, parent.c[KINDS[kind].pipedrive_column] == ranked.c.parent
                )
                .where(ranked.c.rn <= cap)
            )
            conn.execute(
                sa.insert(a).from_select(
                    ["from_kind", "from_id", "to_kind", "to_id", "associated_at"], rows
                )
            )
            cut += conn.execute(
                sa.select(sa.func.count()).select_from(ranked).where(ranked.c.rn > cap)
            ).scalar_one()
        return cut

    @staticmethod
    def parent_refs(stream: str, children: list[ChildLinks]) -> dict[str, set[int]]:
        """The Pipedrive ids, by kind, that changed child records of ``stream`` now refer to."""
        refs: dict[str, set[int]] = {}
        for from_kind, _, child_stream, ref_name in ASSOCIATIONS:
            if child_stream == stream:
                refs.setdefault(from_kind, set()).update(c.new.get(ref_name) for c in children)
        return refs

    def update_children(
        self,
        conn: sa.Connection,
        stream: str,
        children: list[ChildLinks],
        parents: dict[str, dict[int, str]],
    ) -> int:
        """Apply the links of changed child records; return how many links the cap cut.

        ``parents`` holds the CDP ids (``cdp_ids``) of the ``parent_refs`` of the children, by
        kind: the sink looks them up once for the links and the activities of a batch. New links
        are upserted (the cap on groups that grew is enforced by ``trim`` at the end of the
        run). A group that lost a link is rebuilt from ``pipedrive_records`` (a link cut earlier
        may now fit).
        """
        added: dict[tuple[str, str, str, str], dt.datetime | None] = {}
        shrunk: dict[str, set[int]] = {}
        for from_kind, to_kind, child_stream, ref_name in ASSOCIATIONS:
            if child_stream != stream:
                continue
            found = parents.get(from_kind, {})
            for child in children:
                old, new = child.old.get(ref_name), child.new.get(ref_name)
                if old is not None and old != new:
                    shrunk.setdefault(from_kind, set()).add(old)
                if new is not None and (from_id := found.get(new)) is not None:
                    added[from_kind, from_id, to_kind, child.to_id] = child.at
        rows = [
            dict(zip(PRIMARY_KEY, key, strict=True), associated_at=at) for key, at in added.items()
        ]
        bulk.upsert(conn, self.tables.associations, rows)
        cut = 0
        for kind, refs in shrunk.items():
            cut += self.recompute(conn, kind, refs)
        return cut

    def trim(self, conn: sa.Connection) -> dict[str, int]:
        """Delete the links beyond ``max_associations`` per record and kind (end of run).

        Returns how many were cut, per stream of the linked records. One set-based pass per
        run instead of one per batch: counting the groups of every batch cost more than the
        whole load on PostgreSQL.
        """
        a = self.tables.associations
        cap = self.settings.max_associations
        group = (a.c.from_kind, a.c.from_id, a.c.to_kind)
        over = sa.select(*group).group_by(*group).having(sa.func.count() > cap).subquery("over")
        ranked = (
            sa.select(
                *(a.c[name] for name in PRIMARY_KEY),
                sa.func.row_number()
                .over(
                    partition_by=group,
                    order_by=(a.c.associated_at.desc().nulls_last(), a.c.to_id.desc()),
                )
                .label("rn"),
            )
            .join(
                over,
                sa.and_(*(a.c[name] == over.c[name] for name in PRIMARY_KEY[:3])),
            )
            .subquery()
        )
        beyond = [
            dict(zip(PRIMARY_KEY, row[:4], strict=True))
            for row in conn.execute(sa.select(ranked).where(ranked.c.rn > cap))
        ]
        bulk.delete_rows(conn, a, beyond)
        cut: dict[str, int] = {}
        for row in beyond:
            stream = STREAM_OF_LINK_KIND[row["to_kind"]]
            cut[stream] = cut.get(stream, 0) + 1
        return cut

    def backfill_person(self, conn: sa.Connection, pipedrive_person_ids: Collection[int]) -> None:
        """Point deals waiting for these persons at their CDP person."""
        self._backfill(conn, self.tables.deals, "person", pipedrive_person_ids)

    def backfill_organization(
        self, conn: sa.Connection, pipedrive_org_ids: Collection[int]
    ) -> None:
        """Point deals, people and activities waiting for these organizations at them."""
        self._backfill(conn, self.tables.deals, "organization", pipedrive_org_ids)
        self._backfill(conn, self.tables.activities, "organization", pipedrive_org_ids)
        people = self.tables.people
        strategy = self.settings.merge_strategy
        if not self.settings.may_write("organization_id"):
            return
        condition: sa.ColumnElement[bool] = people.c.organization_id.is_(None)
        if strategy == "overwrite_existing" and not self.settings.protect_existing_values:
            condition = sa.true()
        if strategy == "ignore":
            condition = sa.and_(condition, people.c.source == "pipedrive")
        self._backfill(conn, people, "organization", pipedrive_org_ids, condition)

    def backfill_deal(self, conn: sa.Connection, pipedrive_deal_ids: Collection[int]) -> None:
        """Point activities waiting for these deals at them."""
        self._backfill(conn, self.tables.activities, "deal", pipedrive_deal_ids)

    def _backfill(
        self,
        conn: sa.Connection,
        table: sa.Table,
        kind: str,
        pipedrive_ids: Collection[int],
        condition: sa.ColumnElement[bool] | None = None,
    ) -> None:
        spec = KINDS[kind]
        source = getattr(self.tables, spec.table)
        ref = table.c[spec.pipedrive_column]
        target = table.c[spec.id_column]
        resolved = current_id(source, kind)
        if pipedrive_ids:
            where = [
                ref == source.c[spec.pipedrive_column],
                among(source.c[spec.pipedrive_column], pipedrive_ids),
                target.is_distinct_from(resolved),
            ]
            if table is self.tables.activities:
                where.append(target.is_(None))
            if condition is not None:
                where.append(condition)
            conn.execute(sa.update(table).values({spec.id_column: resolved}).where(*where))
