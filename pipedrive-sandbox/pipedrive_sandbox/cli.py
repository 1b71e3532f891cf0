"""``pipedrive-sandbox`` command line: ``pipedrive-sandbox serve --port 8765 --scale 2000``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pipedrive_sandbox import timefmt
from pipedrive_sandbox.columns import MIN_SCALE
from pipedrive_sandbox.config import (
    DEFAULT_BURST_LIMIT,
    DEFAULT_DAILY_BUDGET,
    DEFAULT_OAUTH_SCOPES,
    SandboxConfig,
)


def _anchor(text: str) -> int:
    try:
        return timefmt.parse_rfc3339(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"anchor must be an RFC 3339 time such as 2026-01-01T10:00:00Z, got '{text}'"
        ) from exc


def _faults(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--faults must be a JSON object: {exc}") from exc
    from pipedrive_sandbox.faults import parse_rules  # noqa: PLC0415 - keeps --help fast

    try:
        parse_rules(value)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"--faults: {exc}") from exc
    return value


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(scope.strip() for scope in text.split(","))
    if not all(scopes):
        raise argparse.ArgumentTypeError(
            "--oauth-scopes must be a comma-separated list of scopes, e.g. base,contacts:read"
        )
    return scopes


def _scale(text: str) -> int:
    value = int(text)
    if value < MIN_SCALE:
        raise argparse.ArgumentTypeError("--scale must be at least 5 (one record per kind)")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (documented in the package README)."""
    parser = argparse.ArgumentParser(
        prog="pipedrive-sandbox",
        description="A local Pipedrive API (v1 + v2) following Pipedrive's OpenAPI specs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the sandbox HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=7, help="data seed (same seed, same data)")
    serve.add_argument(
        "--scale",
        type=_scale,
        default=2000,
        help="total core records (persons+orgs+deals+activities+notes)",
    )
    serve.add_argument(
        "--anchor",
        type=_anchor,
        default=None,
        help="RFC 3339 time the data is generated up to (default: now, hour)",
    )
    serve.add_argument("--api-token", default="sandbox-token")
    serve.add_argument(
        "--burst-limit",
        type=int,
        default=DEFAULT_BURST_LIMIT,
        help="requests per 2 s window per token (0 = unlimited)",
    )
    serve.add_argument(
        "--daily-budget",
        type=int,
        default=DEFAULT_DAILY_BUDGET,
        help="daily token budget (0 = unlimited)",
    )
    serve.add_argument(
        "--retry-after",
        action="store_true",
        help="send Retry-After on 429 (Pipedrive does not document it)",
    )
    serve.add_argument("--unknown-params", choices=("reject", "ignore"), default="reject")
    serve.add_argument(
        "--no-marketing-app",
        dest="marketing_app",
        action="store_false",
        help="an account without Pipedrive's marketing app: persons have no marketing_status "
        "or doi_status, and asking for them is a 400",
    )
    serve.add_argument(
        "--frozen-clock", action="store_true", help="the clock moves only through the control API"
    )
    serve.add_argument(
        "--faults",
        type=_faults,
        default={},
        help='fault rules as JSON, e.g. \'{"server_error": {"every": 5}}\'',
    )
    serve.add_argument("--fault-seed", type=int, default=0)
    serve.add_argument("--oauth-client-id", default="sandbox-client")
    serve.add_argument("--oauth-client-secret", default="sandbox-secret")
    serve.add_argument("--oauth-refresh-token", default="sandbox-refresh-token")
    serve.add_argument(
        "--oauth-access-token-ttl",
        type=int,
        default=3600,
        help="lifetime of issued OAuth access tokens, seconds",
    )
    serve.add_argument(
        "--oauth-scopes",
        type=_scopes,
        default=DEFAULT_OAUTH_SCOPES,
        help="comma-separated scopes issued OAuth access tokens carry; a call whose operation "
        "needs none of them is a 403 (default: a scope every served operation accepts)",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """A ``SandboxConfig`` from parsed flags."""
    names = SandboxConfig.__dataclass_fields__
    return SandboxConfig(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    from pipedrive_sandbox.app import Sandbox  # noqa: PLC0415 - numpy import only when serving
    from pipedrive_sandbox.server import SandboxHTTPServer  # noqa: PLC0415

    sandbox = Sandbox(config)
    server = SandboxHTTPServer(sandbox)
    host, port = server.server_address[:2]
    config.port = port
    sandbox.base_url = f"http://{host}:{port}"
    counts = ", ".join(f"{k} {v}" for k, v in sandbox.store.counts.items())
    print(  # noqa: T201 - the ready line testing.start_sandbox waits for
        f"pipedrive-sandbox listening on {sandbox.base_url} "
        f"(seed {config.seed}, scale {config.scale}: {counts}; "
        f"started in {sandbox.startup_seconds:.2f}s)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)
