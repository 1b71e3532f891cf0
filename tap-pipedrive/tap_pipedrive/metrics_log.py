"""Token usage in the run's metrics."""

from __future__ import annotations

import enum
import logging

from singer_sdk import metrics

from tap_pipedrive.budget import TokenBudget


class PipedriveMetric(str, enum.Enum):
    """Metrics the tap adds to the SDK's (same METRIC log format)."""

    TOKEN_COUNT = "pipedrive_token_count"  # noqa: S105 - API tokens, not a secret


def log_token_usage(
    metrics_logger: logging.Logger, logger: logging.Logger, budget: TokenBudget
) -> None:
    """One METRIC line per stream (tokens, with the request count as a tag) and a summary."""
    for stream, tokens in sorted(budget.spent_by_stream.items()):
        point = metrics.Point(
            "counter",
            PipedriveMetric.TOKEN_COUNT,  # type: ignore[arg-type]
            tokens,
            {"stream": stream, "requests": budget.requests_by_stream[stream]},
        )
        metrics.log(metrics_logger, point)
    per_stream = ", ".join(f"{s} {t}" for s, t in sorted(budget.spent_by_stream.items()))
    logger.info(
        "Pipedrive API tokens spent by this run: %d in %d requests (%s)",
        budget.spent,
        sum(budget.requests_by_stream.values()),
        per_stream or "none",
    )
