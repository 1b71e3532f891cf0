"""``api_usage``: the run's own account of its API requests and tokens, as a Singer stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_pipedrive.timestamps import to_rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.tap import TapPipedrive


class ApiUsageStream(Stream):
    """``api_usage``: one record per run with the Pipedrive API requests and tokens it spent.

    No endpoint: the tap's own :class:`~tap_pipedrive.budget.TokenBudget` is the source. The tap
    syncs it after every other stream (and when a run stops early), so the record covers the
    whole run; any Singer target can store it, target-cdp keeps it in ``api_usage``.
    """

    name = "api_usage"
    primary_keys = ("run_id",)
    schema = th.PropertiesList(
        th.Property("run_id", th.StringType, required=True, description="A new UUID per run."),
        th.Property("started_at", th.DateTimeType, description="When the tap started."),
        th.Property("finished_at", th.DateTimeType, description="When this record was made."),
        th.Property("requests", th.IntegerType, description="API requests answered (not 429)."),
        th.Property("tokens", th.IntegerType, description="Their x-token-cost, summed."),
        th.Property(
            "token_budget", th.IntegerType, description="The daily_token_budget setting, if set."
        ),
        th.Property(
            "outcome",
            th.StringType,
            allowed_values=["complete", "budget_spent", "failed"],
            description="complete, budget_spent (stopped cleanly), or failed.",
        ),
        th.Property(
            "streams",
            th.ArrayType(
                th.ObjectType(
                    th.Property("stream", th.StringType),
                    th.Property("requests", th.IntegerType),
                    th.Property("tokens", th.IntegerType),
                )
            ),
            description="Requests and tokens per stream that sent any.",
        ),
    ).to_dict()

    def __init__(self, tap: TapPipedrive) -> None:
        """The account of ``tap``'s run."""
        super().__init__(tap=tap)
        #: The run this stream reports.
        self.run = tap
        #: Whether this run's record went out (a run stopped early sends it from ``run_sync``).
        self.sent = False

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:  # noqa: ARG002
        """The run's single record, as the budget stands now."""
        run, budget = self.run, self.run.budget
        self.sent = True
        yield {
            "run_id": run.run_id,
            "started_at": to_rfc3339(run.started_at),
            "finished_at": to_rfc3339(dt.datetime.now(tz=dt.UTC)),
            "requests": sum(budget.requests_by_stream.values()),
            "tokens": budget.spent,
            "token_budget": budget.limit,
            "outcome": run.outcome,
            "streams": [
                {"stream": stream, "requests": budget.requests_by_stream[stream], "tokens": tokens}
                for stream, tokens in sorted(budget.spent_by_stream.items())
            ],
        }
