"""The ``pipedrive-webhooks`` command: ``serve``, ``register``, ``unregister``, ``status``.

Settings come from flags or ``PIPEDRIVE_WEBHOOKS_<NAME>`` environment variables (what Meltano
sets for a utility). Every problem is one line on stderr, ``pipedrive-webhooks: ...``, with
exit code 1; no secret is ever part of it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import click
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from pipedrive_webhooks import settings as cfg
from pipedrive_webhooks.app import ReceiverSettings, create_app
from pipedrive_webhooks.errors import PipedriveApiError
from pipedrive_webhooks.safety_net import last_poll_run
from pipedrive_webhooks.spool import Spool, masked_url
from pipedrive_webhooks.status import poll_run_text, run_lines, spool_lines, subscription_lines
from pipedrive_webhooks.subscriptions import Subscriber, ours, plan

if TYPE_CHECKING:
    from pipedrive_webhooks.pipedrive_api import WebhooksApi

logger = logging.getLogger("pipedrive_webhooks")


class CliError(click.ClickException):
    """A problem reported as one line and exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        """``pipedrive-webhooks: <message>`` on stderr."""
        click.echo(f"pipedrive-webhooks: {self.format_message()}", file=file or sys.stderr)


def _setting(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        f"--{name.replace('_', '-')}", name, envvar=cfg.env_name(name), show_envvar=True, **kwargs
    )


def _options(*decorators: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


SPOOL = _setting(
    "spool_url",
    default=cfg.DEFAULT_SPOOL_URL,
    show_default=True,
    help="SQLite file (embedded, WAL) or postgresql://... (several receivers).",
)
AUTH = _options(
    _setting("auth_user", help="HTTP Basic user Pipedrive sends with every delivery."),
    _setting("auth_password", help="HTTP Basic password (secret; prefer the environment)."),
)
SAFETY_NET = _options(
    _setting(
        "safety_net",
        default=cfg.DEFAULT_SAFETY_NET,
        show_default=True,
        help="The scheduled polling job that catches events missed while down (shown in logs).",
    ),
    _setting(
        "safety_net_state_id",
        default=cfg.DEFAULT_SAFETY_NET_STATE_ID,
        show_default=True,
        help="Its Meltano state id (without the environment), to find its last run.",
    ),
    _setting(
        "meltano_database_uri",
        help="Meltano's system database (its run history); empty: the last run is not shown.",
    ),
)
APPLY = _setting(
    "apply_command",
    default=cfg.DEFAULT_APPLY_COMMAND,
    show_default=True,
    help="Run after events arrive (debounced, one at a time); empty: spool only.",
)
PIPEDRIVE = _options(
    _setting(
        "public_url", help="The URL Pipedrive delivers to (this receiver, as seen from outside)."
    ),
    _setting("api_token", help="Pipedrive API token of an admin user (secret)."),
    _setting("client_id", help="OAuth client ID (with client_secret and refresh_token)."),
    _setting("client_secret", help="OAuth client secret (secret)."),
    _setting("refresh_token", help="OAuth refresh token (secret)."),
    _setting("oauth_token_url", help="OAuth token endpoint (default Pipedrive's)."),
    _setting("api_url", help="Pipedrive API base URL, as tap-pipedrive's api_url."),
    _setting("request_timeout", type=click.FloatRange(min=1), default=60.0, show_default=True),
)
LOG_LEVEL = _setting(
    "log_level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _open_spool(spool_url: str) -> Spool:
    try:
        return Spool(spool_url)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except SQLAlchemyError as exc:
        msg = f"cannot open the spool {masked_url(spool_url)}: {type(exc).__name__}"
        raise CliError(msg) from None


def _api(options: dict[str, Any]) -> WebhooksApi:
    # Imported here: it loads tap-pipedrive and singer-sdk (seconds), which serve never needs,
    # and serve must be back quickly after a restart.
    from pipedrive_webhooks.pipedrive_api import WebhooksApi  # noqa: PLC0415

    try:
        return WebhooksApi(options, timeout=options["request_timeout"])
    except PipedriveApiError as exc:
        raise CliError(str(exc)) from None


def _safety_net_run(options: dict[str, Any]) -> str:
    """The safety net's last run, in a phrase (never a password)."""
    if not options["meltano_database_uri"]:
        return "last run not checked (set meltano_database_uri)"
    try:
        run = last_poll_run(options["meltano_database_uri"], options["safety_net_state_id"])
    except (OSError, ValueError) as exc:
        return poll_run_text(None, str(exc))
    return poll_run_text(run, None)


def _has_credentials(options: dict[str, Any]) -> bool:
    return bool(options.get("api_token") or options.get("refresh_token"))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """Receive Pipedrive webhooks v2 into a durable spool and start the applying job."""


@main.command()
@SPOOL
@AUTH
@APPLY
@SAFETY_NET
@_setting("host", default=cfg.DEFAULT_HOST, show_default=True, help="Interface to bind.")
@_setting("port", type=click.IntRange(0, 65535), default=cfg.DEFAULT_PORT, show_default=True)
@_setting(
    "max_body_bytes",
    type=click.IntRange(min=1024),
    default=cfg.DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="Larger deliveries get 413 and a dead letter.",
)
@_setting(
    "apply_quiet_seconds",
    type=float,
    default=cfg.DEFAULT_QUIET_SECONDS,
    show_default=True,
    help="Start the apply job after this long without new events...",
)
@_setting(
    "apply_max_wait_seconds",
    type=float,
    default=cfg.DEFAULT_MAX_WAIT_SECONDS,
    show_default=True,
    help="...but at most this long after the first pending event.",
)
@LOG_LEVEL
def serve(**options: Any) -> None:
    """Receive deliveries: Basic auth, durable spool before 2xx, dedupe by meta.id."""
    _configure_logging(options["log_level"])
    try:
        user, password = cfg.basic_credentials(options["auth_user"], options["auth_password"])
        command = cfg.apply_command(options["apply_command"])
        quiet, max_wait = cfg.debounce_seconds(
            options["apply_quiet_seconds"], options["apply_max_wait_seconds"]
        )
    except cfg.SettingsError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    spool = _open_spool(options["spool_url"])
    receiver = ReceiverSettings(
        spool_url=options["spool_url"],
        auth_user=user,
        auth_password=password,
        max_body_bytes=options["max_body_bytes"],
        apply_command=command,
        apply_quiet_seconds=quiet,
        apply_max_wait_seconds=max_wait,
        safety_net=f"{options['safety_net']}; {_safety_net_run(options)}",
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(receiver, spool),
            host=options["host"],
            port=options["port"],
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    )
    try:
        server.run()  # a port in use: uvicorn says so in one line and exits 3
    finally:
        spool.close()


def _subscriber(options: dict[str, Any]) -> Subscriber:
    try:
        user, password = cfg.basic_credentials(options["auth_user"], options["auth_password"])
        return Subscriber(
            url=cfg.public_url(options["public_url"]),
            auth_user=user,
            auth_password=password,
            objects=cfg.parse_objects(options["objects"]),
            user_id=options["user_id"],
        )
    except cfg.SettingsError as exc:
        raise CliError(f"invalid configuration: {exc}") from None


@main.command()
@AUTH
@PIPEDRIVE
@_setting(
    "objects",
    help="Objects to subscribe (comma-separated or JSON array); default: those the tap syncs.",
)
@_setting("user_id", type=int, help="User whose permissions filter events (a top-level admin).")
def register(**options: Any) -> None:
    """Create the subscriptions (version 2.0, Basic auth); idempotent."""
    subscriber = _subscriber(options)
    api = _api(options)
    api.add_secret(subscriber.auth_password)
    try:
        todo = plan(api.list(), subscriber)
        for request in todo.create:
            created = api.create(request)
            click.echo(f"created #{created.get('id')} *.{request['event_object']}")
        for hook in todo.delete:
            api.delete(hook["id"])
            click.echo(
                f"deleted #{hook['id']} {hook.get('event_action')}.{hook.get('event_object')}"
            )
    except PipedriveApiError as exc:
        raise CliError(str(exc)) from None
    for hook in todo.keep:
        click.echo(f"kept #{hook['id']} *.{hook['event_object']}")
    click.echo(f"{len(todo.create) + len(todo.keep)} subscription(s) deliver to {subscriber.url}")


@main.command()
@PIPEDRIVE
def unregister(**options: Any) -> None:
    """Delete every webhook that delivers to public_url."""
    try:
        url = cfg.public_url(options["public_url"])
    except cfg.SettingsError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    api = _api(options)
    try:
        mine = ours(api.list(), url)
        for hook in mine:
            gone = api.delete(hook["id"])
            verb = "deleted" if gone else "already gone:"
            click.echo(
                f"{verb} #{hook['id']} {hook.get('event_action')}.{hook.get('event_object')}"
            )
    except PipedriveApiError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"no subscription delivers to {url} any more")


@main.command()
@SPOOL
@APPLY
@SAFETY_NET
@AUTH
@PIPEDRIVE
@_setting("objects", help="Objects that should be subscribed (as for register).")
@_setting("user_id", type=int, help="As for register.")
def status(**options: Any) -> None:
    """Show the spool (backlog, last event, dead letters), the last apply run and the
    subscriptions."""
    spool = _open_spool(options["spool_url"])
    try:
        state = spool.status()
    finally:
        spool.close()
    try:
        command = cfg.apply_command(options["apply_command"])
    except cfg.SettingsError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    lines = spool_lines(spool.display_url, state)
    lines += run_lines(command, options["safety_net"], _safety_net_run(options), state.last_run)
    lines += _subscription_status(options)
    click.echo("\n".join(lines))


def _subscription_status(options: dict[str, Any]) -> list[str]:
    if not options["public_url"] or not _has_credentials(options):
        return ["Subscriptions: not checked (set public_url and Pipedrive credentials)"]
    try:
        url = cfg.public_url(options["public_url"])
        objects = cfg.parse_objects(options["objects"])
    except cfg.SettingsError as exc:
        raise CliError(f"invalid configuration: {exc}") from None
    api = _api(options)
    if options["auth_password"]:
        api.add_secret(options["auth_password"])
    try:
        webhooks = api.list()
    except PipedriveApiError as exc:
        raise CliError(str(exc)) from None
    mine = ours(webhooks, url)
    if options["auth_user"] and options["auth_password"]:
        todo = plan(
            webhooks,
            Subscriber(
                url, options["auth_user"], options["auth_password"], objects, options["user_id"]
            ),
        )
        kept, stale = todo.keep, todo.delete
        missing = [request["event_object"] for request in todo.create]
    else:
        kept, stale = mine, []
        covered = {hook.get("event_object") for hook in mine}
        missing = [name for name in objects if name not in covered]
    return subscription_lines(url, kept, stale, missing, len(webhooks) - len(mine))
