"""The ``cdp-view`` command: ``cdp-view serve``, also run as ``meltano invoke cdp-view:serve``.

Meltano passes the utility's settings as ``CDP_VIEW_*`` variables and names the project and
environment (``MELTANO_PROJECT_ROOT``, ``MELTANO_ENVIRONMENT``); flags override them. A setting
that would expose the view (another address without a password) stops it with one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from cdp_view.access import UnsafeListenError, check_listen
from cdp_view.app import create_app
from cdp_view.meltano import MeltanoCommandError, MeltanoProject

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="cdp-view", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the view")
    serve.add_argument("--host", default=env("CDP_VIEW_HOST") or DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=int(env("CDP_VIEW_PORT") or DEFAULT_PORT))
    serve.add_argument(
        "--project-dir", type=Path, default=Path(env("MELTANO_PROJECT_ROOT") or Path.cwd())
    )
    serve.add_argument("--environment", default=env("MELTANO_ENVIRONMENT") or "dev")
    serve.add_argument("--meltano", default=env("CDP_VIEW_MELTANO_EXECUTABLE") or None)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    args = _parser().parse_args(argv)
    password = os.environ.get("CDP_VIEW_PASSWORD") or None
    try:
        check_listen(args.host, password)
        project = MeltanoProject(args.project_dir.resolve(), args.environment, args.meltano)
        app = create_app(project, password=password)
    except (UnsafeListenError, MeltanoCommandError) as exc:
        sys.exit(f"cdp-view: {exc}")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
