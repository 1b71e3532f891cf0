"""``target-pipedrive-render``: render a Liquid template per record, audience member or person.

The same sandboxed engine as the actions (``templates``), for campaign content with merge
tags: each line out is ``{"key": ..., "text": ...}`` (or ``"error"`` with the reason when the
template cannot render for that input). Inputs:

* ``--input FILE`` (JSONL, ``-`` for stdin): each line is what the template sees at top level
  (an ``audience_changes`` record, or any object);
* ``--audience NAME``: each current member of an audience in dbt's ``audience_membership``
  (``--audience-schema``, default ``audiences``), seen as an ``audience_changes`` record of its
  entry (``audience``, ``person``, ``deal``, ``entered_at`` ...);
* ``--person ID``: one CDP person as a preview (``person`` at top level).

For the last two the template's variables are checked first against what a record offers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click
import orjson
import sqlalchemy as sa
from target_cdp.database import masked_url
from target_cdp.settings import database_url_problem, engine_url

from target_pipedrive.templates import (
    AUDIENCE_CHANGE_NAMES,
    Template,
    TemplateError,
    available,
    unknown_variables,
)

PERSON_COLUMNS = sorted(AUDIENCE_CHANGE_NAMES["person"] or ())
DEAL_COLUMNS = sorted(AUDIENCE_CHANGE_NAMES["deal"] or ())


def _qualified(conn: sa.Connection, schema: str) -> str:
    if conn.dialect.name == "duckdb":
        catalog = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        return f'"{catalog}"."{schema}"'
    return f'"{schema}"'


def _plain(row: sa.RowMapping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        shown = value
        if isinstance(value, str) and key == "attributes":
            shown = orjson.loads(value)
        elif hasattr(value, "isoformat"):
            shown = value.isoformat()
        elif value is not None and not isinstance(value, int | float | str | bool | dict | list):
            shown = str(value)
        out[key] = shown
    return out


def _one(conn: sa.Connection, cdp: str, table: str, key: str, value: Any) -> dict | None:
    columns = PERSON_COLUMNS if table == "people" else DEAL_COLUMNS
    row = (
        conn.execute(
            sa.text(f"SELECT {', '.join(columns)} FROM {cdp}.{table} WHERE {key} = :v"),  # noqa: S608
            {"v": value},
        )
        .mappings()
        .first()
    )
    return _plain(row) if row is not None else None


def _from_database(
    url: str, schema: str, audience_schema: str, audience: str | None, person: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    engine = sa.create_engine(engine_url(url), hide_parameters=True)
    try:
        with engine.connect() as conn:
            cdp = _qualified(conn, schema)
            if person is not None:
                found = _one(conn, cdp, "people", "person_id", person)
                if found is None:
                    raise click.ClickException(f"no CDP person {person} in {masked_url(url)}")
                yield person, {"person": found}
                return
            models = _qualified(conn, audience_schema)
            # schema names come from options (quoted), values are bound
            columns = "membership_id, audience, member_kind, member_id, stint_number, entered_at"
            where = "audience = :a AND exited_at IS NULL ORDER BY membership_id"
            query = f"SELECT {columns} FROM {models}.audience_membership WHERE {where}"  # noqa: S608
            members = conn.execute(sa.text(query), {"a": audience}).mappings()
            for member in list(members):
                m = _plain(member)
                deal = None
                if m["member_kind"] == "deal":
                    deal = _one(conn, cdp, "deals", "deal_id", m["member_id"])
                person_id = m["member_id"] if m["member_kind"] == "person" else None
                person_id = person_id or (deal or {}).get("person_id")
                data = {
                    "change_id": f"{m['membership_id']}:entered",
                    "audience": m["audience"],
                    "event": "entered",
                    "member_kind": m["member_kind"],
                    "stint_number": m["stint_number"],
                    "entered_at": m["entered_at"],
                    "exited_at": None,
                    "changed_at": m["entered_at"],
                    "person_id": person_id,
                    "deal_id": m["member_id"] if deal else None,
                    "person": _one(conn, cdp, "people", "person_id", person_id)
                    if person_id
                    else None,
                    "deal": deal,
                    "row": {},
                }
                yield str(m["membership_id"]), data
    except sa.exc.SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise click.ClickException(f"reading {masked_url(url)}: {first}") from None
    finally:
        engine.dispose()


def _from_jsonl(stream: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise click.ClickException(f"input line {number} is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise click.ClickException(f"input line {number} is not a JSON object")
        yield str(data.get("change_id") or number), data


@click.command()
@click.option("--template", "source", required=True, help="The Liquid template.")
@click.option("--input", "input_file", type=click.File("r"), help="JSONL records ('-': stdin).")
@click.option("--audience", help="Render for each current member of this audience.")
@click.option("--person", help="Render for one CDP person (a preview).")
@click.option("--database-url", envvar="TARGET_PIPEDRIVE_DATABASE_URL", help="The CDP database.")
@click.option("--schema", default="cdp", show_default=True, help="The CDP schema.")
@click.option("--audience-schema", default="audiences", show_default=True)
def main(
    source: str,
    input_file: Any,
    audience: str | None,
    person: str | None,
    database_url: str | None,
    schema: str,
    audience_schema: str,
) -> None:
    """Render a template to JSONL, one line per input."""
    if sum(x is not None for x in (input_file, audience, person)) != 1:
        raise click.UsageError("give exactly one of --input, --audience, --person")
    try:
        template = Template(source, "--template")
    except TemplateError as exc:
        raise click.ClickException(str(exc)) from None
    if input_file is not None:
        inputs = _from_jsonl(input_file)
    else:
        unknown = unknown_variables(template.variable_paths, AUDIENCE_CHANGE_NAMES)
        if unknown:
            msg = (
                f"--template uses unknown variable {', '.join(unknown)}; available: "
                f"{available(AUDIENCE_CHANGE_NAMES)}"
            )
            raise click.ClickException(msg)
        if not database_url:
            raise click.UsageError("--audience and --person need --database-url")
        if problem := database_url_problem(database_url):
            raise click.ClickException(f"--database-url: {problem}")
        inputs = _from_database(database_url, schema, audience_schema, audience, person)
    out = sys.stdout.buffer
    for key, data in inputs:
        try:
            line = {"key": key, "text": template.render(data)}
        except TemplateError as exc:
            line = {"key": key, "error": str(exc)}
        out.write(orjson.dumps(line) + b"\n")
    out.flush()
