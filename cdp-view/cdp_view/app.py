"""The web app: four tabs over the CDP and the Pipedrive source's settings, server-rendered.

Starlette routes render Jinja2 templates (autoescaped); the only JavaScript is none. Reads go
through ``CDPReader`` (one short connection per request); settings go through Meltano
(``MeltanoProject``). While a sync holds the DuckDB file, a page shows what it read last, with a
note that a sync is running; any other failure is one line on a page, never a stack trace.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from cdp_view import access, queries, receiver
from cdp_view.charts import bar_chart
from cdp_view.meltano import MeltanoCommandError, MeltanoProject
from cdp_view.reader import CDPBusyError, CDPReader, CDPUnavailableError
from cdp_view.settings_form import (
    STREAMS,
    TAP,
    TARGET,
    TARGET_SETTINGS,
    WRITEBACK,
    Change,
    SettingRefusedError,
    changes,
    check_target,
    form_values,
    merge_strategy_options,
    needs_resync,
    parse_form,
    selected_streams,
)

logger = logging.getLogger(__name__)

VIEW = "cdp-view"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
NOTICES = {
    "saved": "Settings saved in meltano.yml.",
    "saved_resync": "Settings saved in meltano.yml. This change applies to data synced from now "
    "on: resync to apply it to what the CDP already holds.",
    "renamed": "Name saved in meltano.yml.",
    "disconnected": "Disconnected: the sync schedule is paused, write-back actions are off and "
    "every CDP row is kept.",
    "disconnected_webhooks": "Disconnected: the sync schedule is paused, write-back actions are "
    "off, the webhooks are unregistered and every CDP row is kept.",
    "resync": "Resync started: a full sync is running.",
}
MAX_NAME_LENGTH = 80
#: Credentials of the tap: the page says whether they are set, never what they are.
TAP_CREDENTIALS = ("api_token", "refresh_token")


@dataclass
class Source:
    """The Pipedrive source's configuration as Meltano resolves it (secrets included)."""

    view: dict[str, Any]
    tap: dict[str, Any]
    target: dict[str, Any]
    #: The webhook receiver's settings (empty when meltano.yml defines no pipedrive-webhooks).
    receiver: dict[str, Any]
    #: The write-back loader's settings (None when meltano.yml defines no target-pipedrive).
    writeback: dict[str, Any] | None

    @classmethod
    def load(cls, project: MeltanoProject) -> Source:
        """Read the plugins' configuration.

        Each Meltano call takes seconds: the others run in parallel, after the first one has
        created Meltano's system database if needed (concurrent first runs race to migrate it).
        """
        view = project.plugin_config(VIEW)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            tap = pool.submit(project.plugin_config, TAP)
            target = pool.submit(project.plugin_config, TARGET)
            hooks = (
                pool.submit(project.plugin_config, receiver.PLUGIN)
                if project.has_plugin(receiver.PLUGIN)
                else None
            )
            writeback = (
                pool.submit(project.plugin_config, WRITEBACK)
                if project.has_plugin(WRITEBACK)
                else None
            )
            return cls(
                view=view,
                tap={**tap.result(), "_select": project.select_patterns(TAP)},
                target=target.result(),
                receiver=hooks.result() if hooks else {},
                writeback=writeback.result() if writeback else None,
            )

    def current(self) -> dict[str, dict[str, Any]]:
        """Per plugin, the settings the details panel edits."""
        plugins = {TAP: self.tap, TARGET: self.target}
        if self.writeback is not None:
            plugins[WRITEBACK] = self.writeback
        return plugins

    @property
    def writeback_enabled(self) -> bool:
        """Whether the write-back acts (its ``enabled`` setting; on unless set false)."""
        return self.writeback is not None and self.writeback.get("enabled") is not False


@dataclass
class ViewState:
    """What the running app holds between requests."""

    project: MeltanoProject
    source: Source
    reader: CDPReader
    password: str | None
    last_read: dict[str, tuple[dt.datetime, dict[str, Any]]] = field(default_factory=dict)
    #: Source counts and the ``sync_runs`` state they were counted at (they change with runs).
    counts: tuple[tuple[Any, ...], dict[str, int]] | None = None
    resync: subprocess.Popen | None = None
    receiver_status: receiver.ReceiverStatus | None = None


def create_app(project: MeltanoProject, *, password: str | None) -> Starlette:
    """The app for one Meltano project and environment."""
    source = Source.load(project)
    reader = CDPReader(source.target["database_url"], source.target.get("schema") or "cdp")
    state = ViewState(project=project, source=source, reader=reader, password=password)
    state.receiver_status = receiver.ReceiverStatus(
        lambda: receiver.run(state.source.receiver, "status")
    )
    routes = [
        Route("/", details),
        Route("/overview", overview),
        Route("/activity", activity),
        Route("/people", people),
        Route("/people/{person_id:str}", person),
        Route("/audiences/{name:str}", audience),
        Route("/rejected/{key:str}", rejected),
        Route("/conflicts/{key:str}", conflict),
        Route("/name", rename, methods=["POST"]),
        Route("/settings", save_settings, methods=["POST"]),
        Route("/disconnect", disconnect, methods=["POST"]),
        Route("/resync", resync, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)],
        exception_handlers={HTTPException: http_error},
        on_shutdown=[reader.dispose],
    )
    app.state.view = state
    return app


def _state(request: Request) -> ViewState:
    return request.app.state.view


async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """Password on every request; a CSRF token for every form; failures as a page."""
    state = _state(request)
    if not access.authorized(request.headers.get("authorization"), state.password):
        return PlainTextResponse(
            "The cdp-view password is required.",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="cdp-view"'},
        )
    token = request.cookies.get(access.CSRF_COOKIE)
    request.state.csrf = token or access.new_csrf_token()
    try:
        response = await call_next(request)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line on a page
        response = failure(request, exc)
    if not token:
        response.set_cookie(
            access.CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict"
        )
    return response


async def checked_form(request: Request) -> FormData:
    """The submitted form, refused (403) unless it repeats the CSRF cookie."""
    form = await request.form()
    submitted = form.get(access.CSRF_FIELD)
    cookie = request.cookies.get(access.CSRF_COOKIE)
    if not access.csrf_valid(cookie, submitted if isinstance(submitted, str) else None):
        raise HTTPException(403, "The form expired or came from another site: reload the page.")
    return form


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page, with what every page shows (the source name, the tabs)."""
    state = _state(request)
    base = {
        "request": request,
        "source_name": state.source.view.get("source_name") or "Pipedrive",
        "csrf_token": request.state.csrf,
        "csrf_field": access.CSRF_FIELD,
    }
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)


async def read(
    request: Request, reader_fn: Callable[[sa.Connection, ViewState], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``reader_fn`` on a fresh connection; while a sync holds the file, the last read."""
    state = _state(request)
    key = str(request.url.path) + "?" + str(request.url.query)

    def run() -> dict[str, Any]:
        with state.reader.connect() as conn:
            return reader_fn(conn, state)

    try:
        data = await run_in_threadpool(run)
    except CDPBusyError:
        read_at, data = state.last_read.get(key, (None, {}))
        return {**data, "busy": True, "read_at": read_at, "stale": bool(data)}
    state.last_read[key] = (dt.datetime.now(tz=dt.UTC), data)
    return {**data, "busy": False}


# Details -------------------------------------------------------------------------------------


def _details_data(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
    t = state.reader.tables
    today = dt.datetime.now(tz=dt.UTC).date()
    days = queries.tokens_per_day(conn, t, today, days=1)
    return {"status": queries.sync_status(conn, t), "tokens_today": days[0] if days else None}


async def details(request: Request) -> Response:
    """The details panel: name, status, settings, disconnect."""
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return await _details_page(request, notice=notice)


async def _details_page(
    request: Request,
    *,
    notice: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    state = _state(request)
    data = await read(request, _details_data)
    now = dt.datetime.now(tz=dt.UTC)
    schedules = [
        {"name": s.name, "interval": s.interval, "paused": s.paused, "next_run": s.next_run(now)}
        for s in await run_in_threadpool(state.project.schedules_of, TAP)
    ]
    source = state.source
    context = {
        **data,
        "notice": notice,
        "error": error,
        "schedules": schedules,
        "resync_running": state.resync is not None and state.resync.poll() is None,
        "database": state.reader.masked,
        "credentials_set": any(source.tap.get(name) for name in TAP_CREDENTIALS),
        "token_budget": source.tap.get("daily_token_budget"),
        "receiver_configured": receiver.configured(source.receiver),
        "receiver": state.receiver_status.current()
        if receiver.configured(source.receiver)
        else None,
        "values": form or form_values(source.target),
        "settings": TARGET_SETTINGS,
        "merge_strategies": merge_strategy_options(),
        "streams": STREAMS,
        "selected": selected_streams(source.tap.get("_select") or []),
        "include_custom_fields": bool(source.tap.get("include_custom_fields")),
        "writeback_configured": source.writeback is not None,
        "writeback_enabled": source.writeback_enabled,
    }
    return render(request, "details.html", context, status)


async def rename(request: Request) -> Response:
    """Store a new source name as the cdp-view setting ``source_name``."""
    form = await checked_form(request)
    name = str(form.get("source_name", "")).strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        problem = f"The name must be 1 to {MAX_NAME_LENGTH} characters."
        return await _details_page(request, error=problem, status=400)
    state = _state(request)
    try:
        await run_in_threadpool(state.project.set_setting, VIEW, "source_name", name)
    except MeltanoCommandError as exc:
        return await _details_page(request, error=str(exc), status=400)
    state.source.view["source_name"] = name
    return RedirectResponse("/?notice=renamed", status_code=303)


async def save_settings(request: Request) -> Response:
    """Check the submitted settings with the plugin's rules, then write the changed ones."""
    form = await checked_form(request)
    state = _state(request)
    source = state.source
    submitted = parse_form(
        form,
        streams=[str(s) for s in form.getlist("streams")],
        current_select=list(source.tap.get("_select") or []),
        writeback=source.writeback is not None,
    )
    shown = {name: str(form.get(name, "")) for name in (*TARGET_SETTINGS, "writable_fields_all")}
    try:
        check_target({**source.target, **submitted[TARGET]})
    except SettingRefusedError as exc:
        return await _details_page(request, error=str(exc), form=shown, status=400)
    wanted = changes(source.current(), submitted)
    problem = await run_in_threadpool(_apply, state, wanted)
    if problem:
        return await _details_page(request, error=problem, form=shown, status=400)
    notice = "saved_resync" if needs_resync(wanted) else "saved"
    return RedirectResponse(f"/?notice={notice}", status_code=303)


def _apply(state: ViewState, wanted: list[Change]) -> str | None:
    """Write each change through Meltano, then check Meltano will pass what was written.

    A value Meltano would pass differently (it reads dots in object keys as nesting, for
    example) is put back as it was, and the problem is returned; so is Meltano's own error.
    """
    before = state.source.current()
    written: list[Change] = []
    try:
        for change in wanted:
            _write(state.project, change)
            written.append(change)
    except MeltanoCommandError as exc:
        state.source = Source.load(state.project)
        return f"Meltano refused `{change.name}`: {exc}"
    state.source = Source.load(state.project)
    after = state.source.current()
    for change in written:
        if changes(after, {change.plugin: {change.name: change.value}}):
            previous = before[change.plugin].get(change.name)
            _write(state.project, Change(change.plugin, change.name, previous, previous is None))
            state.source = Source.load(state.project)
            return (
                f"Meltano would pass `{change.name}` to {change.plugin} as "
                f"{after[change.plugin].get(change.name)!r}, not as entered "
                f"({change.value!r}); the previous value was kept."
            )
    return None


def _write(project: MeltanoProject, change: Change) -> None:
    if change.unset:
        project.unset_setting(change.plugin, change.name)
    else:
        project.set_setting(change.plugin, change.name, change.value)


async def disconnect(request: Request) -> Response:
    """Pause every schedule that runs the tap and the write-back's actions (its ``enabled``),
    then unregister the receiver's webhooks (when a receiver is configured) with its own
    ``unregister``; every CDP row stays."""
    await checked_form(request)
    state = _state(request)
    try:
        for schedule in await run_in_threadpool(state.project.schedules_of, TAP):
            if not schedule.paused:
                await run_in_threadpool(state.project.pause_schedule, schedule.name)
        if state.source.writeback_enabled:
            await run_in_threadpool(state.project.set_setting, WRITEBACK, "enabled", False)
            state.source.writeback = {**(state.source.writeback or {}), "enabled": False}
    except MeltanoCommandError as exc:
        return await _details_page(request, error=str(exc), status=400)
    if not receiver.configured(state.source.receiver):
        return RedirectResponse("/?notice=disconnected", status_code=303)
    try:
        await run_in_threadpool(receiver.run, state.source.receiver, "unregister")
    except receiver.ReceiverCommandError as exc:
        problem = (
            f"The schedules are paused, but unregistering the webhooks failed: {exc}. "
            "Disconnect again to retry."
        )
        return await _details_page(request, error=problem, status=502)
    finally:
        state.receiver_status.forget()
    return RedirectResponse("/?notice=disconnected_webhooks", status_code=303)


async def resync(request: Request) -> Response:
    """Start a full sync (Meltano's ``--full-refresh``) of the tap's job, in the background."""
    await checked_form(request)
    state = _state(request)
    if state.resync is None or state.resync.poll() is not None:
        jobs = [s.job for s in state.project.schedules_of(TAP) if s.job]
        task = [jobs[0]] if jobs else [TAP, TARGET]
        log_dir = state.project.root / ".meltano" / "logs" / VIEW
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "resync.log").open("ab") as log:
            state.resync = subprocess.Popen(  # noqa: S603 - a list of arguments, no shell
                [
                    state.project.executable,
                    "--environment",
                    state.project.environment,
                    "run",
                    "--full-refresh",
                    *task,
                ],
                cwd=state.project.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    return RedirectResponse("/?notice=resync", status_code=303)


# Overview ------------------------------------------------------------------------------------


def _overview_data(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
    t = state.reader.tables
    charted = queries.runs(conn, t, queries.RUNS_CHARTED)
    points = [
        (run["started_at"].strftime("%Y-%m-%d %H:%M"), run["records"])
        for run in reversed(charted)
        if run["started_at"]
    ]
    today = dt.datetime.now(tz=dt.UTC).date()
    token_points = [
        (day["day"].isoformat(), day["tokens"]) for day in queries.tokens_per_day(conn, t, today)
    ]
    runs_state = queries.runs_state(conn, t)
    if state.counts is None or state.counts[0] != runs_state:
        state.counts = (runs_state, queries.source_counts(conn, t))
    return {
        "counts": state.counts[1],
        "runs": charted[: queries.RUNS_SHOWN],
        "count_keys": queries.RUN_COUNT_KEYS,
        "records_chart": bar_chart(points, title="Records synced per run", unit="records"),
        "tokens_chart": bar_chart(
            token_points, title="Pipedrive API tokens per day (UTC)", unit="tokens"
        ),
        "rejected": queries.rejected_records(conn, t, queries.PAGE_SIZE),
        "conflicts": queries.identity_conflicts(conn, t, queries.PAGE_SIZE),
    }


async def overview(request: Request) -> Response:
    """Counts, runs over time, the last runs, rejected records and identity conflicts."""
    return render(request, "overview.html", await read(request, _overview_data))


async def rejected(request: Request) -> Response:
    """One rejected record, raw record included."""
    key = request.path_params["key"]
    data = await read(
        request, lambda conn, s: {"record": queries.rejected_record(conn, s.reader.tables, key)}
    )
    if not data["busy"] and data["record"] is None:
        raise HTTPException(404, "No rejected record has this key.")
    return render(request, "rejected.html", data)


async def conflict(request: Request) -> Response:
    """One identity conflict."""
    key = request.path_params["key"]
    data = await read(
        request, lambda conn, s: {"conflict": queries.identity_conflict(conn, s.reader.tables, key)}
    )
    if not data["busy"] and data["conflict"] is None:
        raise HTTPException(404, "No identity conflict has this key.")
    return render(request, "conflict.html", data)


# Activity feed -------------------------------------------------------------------------------


async def activity(request: Request) -> Response:
    """The newest activities, filtered by type and person, by keyset pages."""
    params = request.query_params
    activity_type = params.get("type") or None
    person_id = params.get("person") or None
    cursor = params.get("after") or None

    def load(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
        t = state.reader.tables
        page = queries.activity_feed(
            conn, t, activity_type=activity_type, person_id=person_id, cursor=cursor
        )
        return {"types": queries.activity_types(conn, t), "page": page}

    data = await read(request, load)
    filters = {k: v for k, v in (("type", activity_type), ("person", person_id)) if v}
    page = data.get("page")
    next_url = None
    if page and page.next_cursor:
        next_url = "/activity?" + urlencode({**filters, "after": page.next_cursor})
    return render(
        request,
        "activity.html",
        {**data, "type": activity_type, "person": person_id, "next_url": next_url},
    )


# Audience table ------------------------------------------------------------------------------


async def people(request: Request) -> Response:
    """People from Pipedrive, searchable, and the audiences."""
    search = request.query_params.get("q") or None
    cursor = request.query_params.get("after") or None

    def load(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
        reader = state.reader
        page = queries.people(conn, reader.tables, search=search, cursor=cursor)
        built = queries.audiences_built(conn, reader.audiences.builds.schema)
        sizes = queries.audience_sizes(conn, reader.audiences) if built else []
        return {"page": page, "audiences_built": built, "audiences": sizes}

    data = await read(request, load)
    page = data.get("page")
    next_url = None
    if page and page.next_cursor:
        query = {"q": search} if search else {}
        next_url = "/people?" + urlencode({**query, "after": page.next_cursor})
    return render(request, "people.html", {**data, "q": search, "next_url": next_url})


async def person(request: Request) -> Response:
    """One person: fields, attributes, activities, audience stints."""
    person_id = request.path_params["person_id"]

    def load(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
        reader = state.reader
        found = queries.person(conn, reader.tables, person_id)
        if found is None:
            return {"person": None}
        feed = queries.activity_feed(
            conn, reader.tables, activity_type=None, person_id=person_id, cursor=None
        )
        built = queries.audiences_built(conn, reader.audiences.builds.schema)
        stints = queries.person_stints(conn, reader.audiences, person_id) if built else []
        return {"person": found, "feed": feed, "stints": stints, "audiences_built": built}

    data = await read(request, load)
    if not data["busy"] and data["person"] is None:
        raise HTTPException(404, "No person has this id.")
    return render(request, "person.html", data)


async def audience(request: Request) -> Response:
    """One audience: its members now, and entries and exits per build."""
    name = request.path_params["name"]
    cursor = request.query_params.get("after") or None

    def load(conn: sa.Connection, state: ViewState) -> dict[str, Any]:
        reader = state.reader
        if not queries.audiences_built(conn, reader.audiences.builds.schema):
            return {"audiences_built": False}
        members = queries.audience_members(conn, reader.tables, reader.audiences, name, cursor)
        builds = queries.audience_builds(conn, reader.audiences, name)
        return {"audiences_built": True, "members": members, "builds": builds}

    data = await read(request, load)
    members = data.get("members")
    next_url = None
    if members and members.next_cursor:
        next_url = f"/audiences/{name}?" + urlencode({"after": members.next_cursor})
    return render(request, "audience.html", {**data, "name": name, "next_url": next_url})


# Errors --------------------------------------------------------------------------------------


async def http_error(request: Request, exc: Exception) -> Response:
    """A refused or unknown request: its reason on a page."""
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "") or "Not found."
    return _error_page(request, str(detail), status)


def failure(request: Request, exc: Exception) -> Response:
    """Anything else: one line, never a stack trace (the log has the details)."""
    if isinstance(exc, CDPUnavailableError):
        return _error_page(request, str(exc), 503)
    detail = _state(request).reader.mask(str(exc)).splitlines()
    logger.error("cdp-view failed on %s: %s %s", request.url.path, type(exc).__name__, detail[:1])
    return _error_page(request, f"The view failed ({type(exc).__name__}); see its log.", 500)


def _error_page(request: Request, message: str, status: int) -> Response:
    if not hasattr(request.state, "csrf"):
        request.state.csrf = ""
    return render(request, "error.html", {"message": message}, status)
