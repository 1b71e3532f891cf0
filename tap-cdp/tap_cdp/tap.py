"""tap-cdp: the CDP as Singer streams, for write-back and any other Singer target.

``audience_changes`` (incremental, each change once) is what a playbook reacts to; every table
of the CDP schema and every model of the audience schema is discovered as a FULL_TABLE stream
named ``<schema>-<table>`` (``cdp-people``, ``audiences-repeat_customers``).
"""

from __future__ import annotations

import typing as t

import click
from singer_sdk import typing as th
from singer_sdk.sql import SQLTap

from tap_cdp.cli import REPORTED_ELSEWHERE, CDPCommand
from tap_cdp.client import CDPConnector, CDPTableStream
from tap_cdp.database import check_database_url
from tap_cdp.streams import AudienceChangesStream, catalog_entry

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapCDP(SQLTap):
    """Reads the CDP that target-cdp writes and dbt's audiences, on DuckDB or PostgreSQL."""

    name = "tap-cdp"
    default_stream_class = CDPTableStream
    config_jsonschema = th.PropertiesList(
        th.Property(
            "database_url",
            th.StringType,
            required=True,
            secret=True,
            title="Database URL",
            description=(
                "The CDP, as target-cdp's database_url names it: duckdb:///path/warehouse.duckdb "
                "or postgresql://user:pass@host/db (read with psycopg 3)."
            ),
        ),
        th.Property(
            "schema",
            th.StringType,
            default="cdp",
            title="Schema",
            description="Schema of the CDP tables (target-cdp's schema).",
        ),
        th.Property(
            "audience_schema",
            th.StringType,
            default="audiences",
            title="Audience schema",
            description="Schema dbt builds the audiences and audience_membership in.",
        ),
        th.Property(
            "lock_timeout",
            th.NumberType,
            default=60,
            title="DuckDB lock timeout (seconds)",
            description="How long to wait for a DuckDB file another process is writing.",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        check_database_url(self.config.get("database_url"))

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, reporting a CDP that cannot be read in one line."""
        command = super().get_singer_command()
        command.__class__ = CDPCommand
        return command

    @property
    def catalog_dict(self) -> dict:
        if self._catalog_dict is None and not self.input_catalog:
            discovered = self.tap_connector.discover_catalog_entries()
            self._catalog_dict = {"streams": [catalog_entry(), *discovered]}
        return super().catalog_dict

    @property
    def tap_connector(self) -> CDPConnector:
        return t.cast("CDPConnector", super().tap_connector)

    def discover_streams(self) -> t.Sequence[Stream]:
        streams: list[Stream] = [AudienceChangesStream(self, self.tap_connector)]
        streams += [
            CDPTableStream(tap=self, catalog_entry=entry, connector=self.tap_connector)
            for entry in self.catalog_dict["streams"]
            if entry["tap_stream_id"] != AudienceChangesStream.name
        ]
        for stream in streams:
            stream.logger.addFilter(REPORTED_ELSEWHERE)
        return streams
