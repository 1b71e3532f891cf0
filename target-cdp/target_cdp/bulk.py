"""The one dialect-specific part: loading many rows fast, merging them by key, run locks.

Everything else is one SQLAlchemy Core code path. A batch of rows is staged into a temporary
table with the database's bulk path (DuckDB reads a newline-delimited JSON file, PostgreSQL
takes COPY), then merged into its table by primary key: on PostgreSQL with one
``INSERT ... SELECT ... ON CONFLICT`` statement; on DuckDB, whose tables carry no key
constraints (``tables.py``: its ART indexes live in memory and grow with the table), with an
``UPDATE ... FROM`` the staged rows and an ``INSERT`` of those whose key is not stored (an
anti-join). Keys stay unique because every write goes through ``upsert``, which refuses a batch
with a key twice and never inserts a key that is stored. executemany of single-row upserts is
an order of magnitude slower on DuckDB.

A run lock tells a run that is still going from one whose process was killed: on PostgreSQL a
session advisory lock held on a connection of its own for the whole run; on DuckDB the file
lock already lets only one process write, so no other run can be going.
"""

from __future__ import annotations

import decimal
import hashlib
import operator
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from target_cdp.records import dumps

_NDJSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _stage_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _stage_duckdb(
    conn: sa.Connection, name: str, columns: Sequence[sa.Column], rows: list[dict]
) -> None:
    fd, path = tempfile.mkstemp(prefix="target-cdp-", suffix=".ndjson")
    try:
        with os.fdopen(fd, "wb") as file:
            for row in rows:
                file.write(orjson.dumps(row, default=_stage_default, option=_NDJSON))
        types = ", ".join(f"'{c.name}': '{c.type.compile(dialect=conn.dialect)}'" for c in columns)
        quoted = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in columns)
        conn.exec_driver_sql(
            f"INSERT INTO {name} ({quoted}) SELECT {quoted} FROM read_json("  # noqa: S608
            f"'{path}', format='newline_delimited', columns={{{types}}})"
        )
    finally:
        os.unlink(path)  # noqa: PTH108


def _stage_postgresql(
    conn: sa.Connection, name: str, columns: Sequence[sa.Column], rows: list[dict]
) -> None:
    names = [c.name for c in columns]
    json_positions = [i for i, c in enumerate(columns) if isinstance(c.type, sa.JSON)]
    values_of = operator.itemgetter(*names)
    cursor = conn.connection.driver_connection.cursor()
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
    with cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            values = list(values_of(row)) if len(names) > 1 else [values_of(row)]
            for i in json_positions:
                if values[i] is not None:
                    values[i] = dumps(values[i]).decode()
            copy.write_row(values)


def stage(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> sa.TableClause:
    """Copy ``rows`` into a new temporary table shaped like ``table``; return it.

    Every row must carry the same keys, all of them columns of ``table``.
    """
    columns = [c for c in table.columns if c.name in rows[0]]
    # One staging table per table and column set, reused for the whole session: creating and
    # dropping temporary tables per batch bloats PostgreSQL's catalog.
    digest = hashlib.sha1(" ".join(c.name for c in columns).encode()).hexdigest()[:8]  # noqa: S324
    name = f"cdp_stage_{table.name}_{digest}"
    selected = ", ".join(conn.dialect.identifier_preparer.quote(c.name) for c in columns)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} AS SELECT {selected} "  # noqa: S608
        f"FROM {conn.dialect.identifier_preparer.format_table(table)} WHERE 1 = 0"
    )
    conn.exec_driver_sql(f"TRUNCATE {name}")
    if conn.dialect.name == "duckdb":
        _stage_duckdb(conn, name, columns, rows)
    else:
        _stage_postgresql(conn, name, columns, rows)
    return sa.table(name, *(sa.column(c.name) for c in columns))


def empty_stage(conn: sa.Connection, staged: sa.TableClause) -> None:
    """Empty a staging table made by ``stage`` (it stays for the next batch)."""
    conn.exec_driver_sql(f"TRUNCATE {staged.name}")


#: Given the stored and the incoming columns, the values to set on a stored row.
SetClause = Callable[[ReadOnlyColumnCollection, ReadOnlyColumnCollection], dict[str, Any]]


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict],
    *,
    update: bool | SetClause = True,
) -> None:
    """Insert ``rows``; for keys already stored, set the staged non-key columns.

    ``update=False`` keeps stored rows as they are; a function of (stored, incoming) columns
    gives the values to set instead (``{"count": stored["count"] + incoming["count"]}``).
    ``rows`` must be unique by primary key (ValueError otherwise: on DuckDB nothing else keeps
    keys unique).
    """
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    key_of = operator.itemgetter(*keys)
    if len(set(map(key_of, rows))) < len(rows):
        msg = f"rows for {table.name} repeat a primary key {tuple(keys)}"
        raise ValueError(msg)
    staged = stage(conn, table, rows)
    names = [c.name for c in staged.columns]
    set_clause = _set_incoming([n for n in names if n not in keys]) if update is True else update
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(table).from_select(names, sa.select(*staged.columns))
        values = set_clause(table.c, insert.excluded) if set_clause else {}
        statement = (
            insert.on_conflict_do_update(index_elements=keys, set_=values)
            if values
            else insert.on_conflict_do_nothing(index_elements=keys)
        )
        conn.execute(statement)
    else:
        stored = [table.c[k] == staged.c[k] for k in keys]
        values = set_clause(table.c, staged.c) if set_clause else {}
        if values:
            conn.execute(sa.update(table).values(values).where(*stored))
        new = sa.select(*staged.columns).where(~sa.exists().where(*stored))
        conn.execute(sa.insert(table).from_select(names, new))
    empty_stage(conn, staged)


def _set_incoming(names: list[str]) -> SetClause:
    return lambda _stored, incoming: {n: incoming[n] for n in names}


def update(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Set the staged columns of existing rows, matched by primary key (no inserts)."""
    if not rows:
        return
    staged = stage(conn, table, rows)
    keys = [c.name for c in table.primary_key.columns]
    conn.execute(
        sa.update(table)
        .values({c.name: c for c in staged.columns if c.name not in keys})
        .where(*(table.c[k] == staged.c[k] for k in keys))
    )
    empty_stage(conn, staged)


def delete_rows(conn: sa.Connection, table: sa.Table, keys: list[dict]) -> None:
    """Delete the rows whose primary keys are given."""
    if not keys:
        return
    staged = stage(conn, table, keys)
    conn.execute(
        sa.delete(table).where(*(table.c[c.name] == staged.c[c.name] for c in staged.columns))
    )
    empty_stage(conn, staged)


class _KeyList(sa.TypeDecorator):
    """A list of keys bound as one parameter: JSON text on PostgreSQL, an array elsewhere.

    psycopg adapts a Python list to an array element by element in Python (a regular
    expression per element, to quote it): a batch's 10,000 keys cost more there than the
    query. orjson writes the list in one call and PostgreSQL unpacks it (``_Among``).
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, item_type: sa.types.TypeEngine) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        """Text on PostgreSQL (JSON), an array of the keys' type elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(postgresql.ARRAY(self.item_type))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        """The keys as a JSON array on PostgreSQL."""
        return orjson.dumps(value).decode() if dialect.name == "postgresql" else value


class _Among(sa.sql.expression.ColumnElement[bool]):
    """``column = ANY(keys)``; see ``among``."""

    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals: ClassVar = [
        ("column", InternalTraversal.dp_clauseelement),
        ("keys", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: sa.ColumnElement, keys: list[Any]) -> None:
        self.column = column
        self.keys = sa.bindparam(None, keys, type_=_KeyList(column.type))


@compiles(_Among)
def _compile_among(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, keys = compiler.process(element.column, **kw), compiler.process(element.keys, **kw)
    return f"{column} = ANY({keys})"


@compiles(_Among, "postgresql")
def _compile_among_postgresql(element: _Among, compiler: SQLCompiler, **kw: Any) -> str:
    column, keys = compiler.process(element.column, **kw), compiler.process(element.keys, **kw)
    key_type = compiler.dialect.type_compiler_instance.process(element.column.type)
    return (
        f"{column} = ANY(ARRAY(SELECT CAST(k AS {key_type}) "  # noqa: S608
        f"FROM jsonb_array_elements_text(CAST({keys} AS JSONB)) AS k))"
    )


def among(column: sa.ColumnElement, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column = ANY(:keys)``: one parameter instead of thousands of IN parameters.

    This compiles and runs several times faster than an expanded IN list of a batch's keys.
    DuckDB binds the list as an array; PostgreSQL gets it as JSON (``_KeyList``) and unpacks it
    into an array once per statement, so its indexes still serve the lookup.
    """
    return _Among(column, sorted(set(values)))


def hold_run_lock(engine: sa.Engine, key: int) -> sa.Connection | None:
    """Take the lock of a run; return the connection holding it (None on DuckDB).

    Closing the connection's session (``Engine.dispose``, or the process ending) releases it.
    """
    if engine.dialect.name != "postgresql":
        return None
    conn = engine.connect()
    conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
    conn.commit()
    return conn


def run_is_live(conn: sa.Connection, key: int) -> bool:
    """Whether another session holds the lock of this run (its process is still going)."""
    if conn.dialect.name != "postgresql":
        return False
    if not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one():
        return True
    conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
    return False
