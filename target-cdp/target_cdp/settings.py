"""The target's settings: JSON schema (shown by ``--about``) and the validated, typed view of it."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from singer_sdk.exceptions import ConfigValidationError

MergeStrategy = Literal["append_only", "overwrite_existing", "ignore"]
MERGE_STRATEGIES: tuple[str, ...] = ("append_only", "overwrite_existing", "ignore")

#: CDP person fields a Pipedrive person may write (``attributes.<key>`` for everything else).
PERSON_FIELDS: tuple[str, ...] = ("email", "first_name", "last_name", "phone", "organization_id")

#: Regular expressions (full match, case-insensitive, on the trimmed value) of identifiers that
#: never identify anyone: Segment's blocked values plus common placeholder emails.
DEFAULT_BLOCKED_IDENTIFIERS: tuple[str, ...] = (
    r"[0-]*",
    r"null|none|nil|undefined|n/?a|unknown|anonymous|test|-1",
    r"(no-?e?mail|no-?reply|do-?not-?reply|none|null|nobody|noone|unknown|test|anonymous)@.*",
    r".*@(example\.(com|org|net)|test\.com|none\.com|noemail\.com|nowhere\.com|mailinator\.com)",
)

DEFAULT_PERMISSION_VALUES: tuple[str, ...] = ("true", "yes", "1", "subscribed", "opted in")

KEEP_FOREVER = "forever"


def _prop(json_type: Any, title: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": json_type, "title": title, "description": description, **extra}


CONFIG_JSONSCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "database_url": _prop(
            "string",
            "Database URL",
            "SQLAlchemy URL of the CDP database: a DuckDB file (`duckdb:///warehouse.duckdb`, "
            "the default, embedded; its directory must exist) or PostgreSQL "
            "(`postgresql://user:pass@host/db`, written with psycopg 3). Passwords, also as "
            "query parameters "
            "(`?password=`, `sslpassword`, tokens, keys), are masked in every log line and error.",
            default="duckdb:///warehouse.duckdb",
            secret=True,
        ),
        "schema": _prop(
            "string",
            "Schema",
            "Database schema holding the CDP tables (created if missing).",
            default="cdp",
            pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        ),
        "merge_strategy": _prop(
            "string",
            "Merge strategy",
            "How a Pipedrive person updates a CDP person that already exists: `append_only` "
            'fills only fields without a value (`""` and `0` are values), '
            "`overwrite_existing` writes every field present in the record (an explicit null "
            "clears it), `ignore` never modifies existing people (new people are still "
            "created).",
            enum=list(MERGE_STRATEGIES),
            default="overwrite_existing",
        ),
        "create_new_people": _prop(
            "boolean",
            "Create new people",
            "Create a CDP person for a Pipedrive person that matches nobody. False: only "
            "people who already exist in the CDP are updated.",
            default=True,
        ),
        "writable_fields": _prop(
            ["array", "null"],
            "Writable fields",
            "CDP person fields Pipedrive may write: `email`, `first_name`, `last_name`, "
            "`phone`, `organization_id`, `attributes` (all of them), `attributes.<key>`, "
            "`attributes.custom_fields` or `attributes.custom_fields.<readable_name>`. "
            "Null (default) = all.",
            items={"type": "string"},
            default=None,
        ),
        "protect_existing_values": _prop(
            "boolean",
            "Protect existing values",
            "Never modify a person field that already has a value, whatever the merge strategy.",
            default=False,
        ),
        "email_permission_field": _prop(
            ["string", "null"],
            "Email permission field",
            "Pipedrive person field (a record key or a custom field's readable name) whose "
            "value decides `email_permission` of people this target creates. Null (default): "
            "use Pipedrive's `marketing_status`.",
            default=None,
        ),
        "email_permission_values": _prop(
            "array",
            "Email permission values",
            "Values of `email_permission_field` that mean yes (case-insensitive); any other "
            "non-empty value means no.",
            items={"type": "string"},
            default=list(DEFAULT_PERMISSION_VALUES),
        ),
        "sms_permission_field": _prop(
            ["string", "null"],
            "SMS permission field",
            "Pipedrive person field whose value decides `sms_permission` of people this "
            "target creates. Null (default): new people get no SMS permission.",
            default=None,
        ),
        "sms_permission_values": _prop(
            "array",
            "SMS permission values",
            "Values of `sms_permission_field` that mean yes (case-insensitive).",
            items={"type": "string"},
            default=list(DEFAULT_PERMISSION_VALUES),
        ),
        "default_email_permission": _prop(
            "boolean",
            "Default email permission",
            "`email_permission` of a new person when Pipedrive gives no marketing status at all "
            "(no marketing app) or `email_permission_field` is empty. `subscribed` is yes and "
            "every other status no, whatever this says.",
            default=True,
        ),
        "suppress_unsubscribed_emails": _prop(
            "boolean",
            "Suppress unsubscribed emails",
            "A person this target creates gets `email_permission` false, whatever Pipedrive "
            "says, when another CDP person with the same email (deleted or not, any source) "
            "opted out: an unsubscribe is recorded for them, or their `email_permission` is "
            "false and no decision of this target explains it (a mere absence of consent, such "
            "as `no_consent`, suppresses nobody). A "
            "Pipedrive person deleted and re-created, or a duplicate, does not re-subscribe "
            "someone who unsubscribed.",
            default=True,
        ),
        "propagate_unsubscribes": _prop(
            "boolean",
            "Propagate unsubscribes",
            "Let Pipedrive unsubscribe people who already exist: when a person's "
            "`marketing_status` becomes `unsubscribed` (or the mapped email or SMS permission "
            "field gets a non-empty value that is not yes), a true permission of that channel "
            "becomes false. A permission is never raised. False (default): existing people "
            "keep their permissions.",
            default=False,
        ),
        "activity_retention_days": _prop(
            "integer",
            "Activity retention (days)",
            "Raw activities older than this are not stored and are purged at the end of each "
            "run; `activity_summary` keeps counting them.",
            default=90,
            minimum=0,
        ),
        "activity_retention_overrides": _prop(
            "object",
            "Activity retention overrides",
            "Retention per activity type (exact type or glob such as `pipedrive.deal.*`): "
            'days, or null / `"forever"` to keep forever. Nested objects are read as dotted '
            "types (Meltano nests dotted keys of object settings).",
            additionalProperties={
                "anyOf": [
                    {"type": "integer", "minimum": 0},
                    {"type": "null"},
                    {"type": "string", "enum": [KEEP_FOREVER]},
                    {"type": "object"},
                ]
            },
            default={},
        ),
        "activity_types": _prop(
            ["array", "null"],
            "Activity types",
            "Activity types (exact or glob) that are stored and summarised at all. Null "
            "(default) = every type.",
            items={"type": "string"},
            default=None,
        ),
        "max_associations": _prop(
            "integer",
            "Max associations",
            "Associated records kept per record and kind, most recent first.",
            default=50,
            minimum=1,
        ),
        "blocked_identifiers": _prop(
            "array",
            "Blocked identifiers",
            "Regular expressions (full match, case-insensitive) of emails that never identify "
            "a person: such emails are neither matched nor stored in `people.email`. The "
            "default blocks empty values, `null`, `-1`, `^[0-]*$`, `anonymous` and "
            "placeholder emails such as `noemail@...` or `test@example.com`.",
            items={"type": "string"},
            default=list(DEFAULT_BLOCKED_IDENTIFIERS),
        ),
        "duckdb_memory_limit": _prop(
            "string",
            "DuckDB memory limit",
            "DuckDB's `memory_limit` for an embedded database (ignored for PostgreSQL): its "
            "cache of table data and its working memory stay within it, so the target's memory "
            "does not grow with the size of the CDP. Raise it if DuckDB reports it is out of "
            "memory (the error says so); a larger cache loads a few percent faster.",
            default="96MB",
        ),
    },
}


@dataclass(frozen=True)
class Settings:
    """Validated settings; built once per target from its config."""

    database_url: str = field(repr=False)
    schema: str
    merge_strategy: MergeStrategy
    create_new_people: bool
    writable_fields: tuple[str, ...] | None
    protect_existing_values: bool
    email_permission_field: str | None
    email_permission_values: frozenset[str]
    sms_permission_field: str | None
    sms_permission_values: frozenset[str]
    default_email_permission: bool
    suppress_unsubscribed_emails: bool
    propagate_unsubscribes: bool
    activity_retention_days: int
    activity_retention_overrides: dict[str, int | None]
    activity_types: tuple[str, ...] | None
    max_associations: int
    blocked_identifiers: re.Pattern[str]
    duckdb_memory_limit: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        """Read settings, applying defaults; raise ``ConfigValidationError`` naming the setting."""
        defaults = {k: v.get("default") for k, v in CONFIG_JSONSCHEMA["properties"].items()}
        merged = {**defaults, **{k: v for k, v in config.items() if k in defaults}}
        url = merged["database_url"]
        if problem := database_url_problem(url):
            raise _error("database_url", problem)
        if merged["merge_strategy"] not in MERGE_STRATEGIES:
            raise _error("merge_strategy", f"must be one of {', '.join(MERGE_STRATEGIES)}")
        overrides: dict[str, int | None] = {}
        for pattern, days in _dotted(merged["activity_retention_overrides"] or {}).items():
            if days is not None and days != KEEP_FOREVER and not isinstance(days, int):
                raise _error("activity_retention_overrides", f"{pattern!r}: days, null or forever")
            overrides[pattern] = None if days in (None, KEEP_FOREVER) else days
        try:
            blocked = re.compile(
                "|".join(f"(?:{p})" for p in merged["blocked_identifiers"]) or r"(?!)",
                re.IGNORECASE,
            )
        except re.error as exc:
            raise _error("blocked_identifiers", f"invalid regular expression: {exc}") from exc
        writable = merged["writable_fields"]
        if writable is not None:
            for field in writable:
                if field not in PERSON_FIELDS and field.split(".")[0] != "attributes":
                    raise _error("writable_fields", f"unknown CDP field {field!r}")
        return cls(
            database_url=url,
            schema=merged["schema"],
            merge_strategy=merged["merge_strategy"],
            create_new_people=bool(merged["create_new_people"]),
            writable_fields=None if writable is None else tuple(writable),
            protect_existing_values=bool(merged["protect_existing_values"]),
            email_permission_field=merged["email_permission_field"],
            email_permission_values=_lower_set(merged["email_permission_values"]),
            sms_permission_field=merged["sms_permission_field"],
            sms_permission_values=_lower_set(merged["sms_permission_values"]),
            default_email_permission=bool(merged["default_email_permission"]),
            suppress_unsubscribed_emails=bool(merged["suppress_unsubscribed_emails"]),
            propagate_unsubscribes=bool(merged["propagate_unsubscribes"]),
            activity_retention_days=int(merged["activity_retention_days"]),
            activity_retention_overrides=overrides,
            activity_types=None
            if merged["activity_types"] is None
            else tuple(merged["activity_types"]),
            max_associations=int(merged["max_associations"]),
            blocked_identifiers=blocked,
            duckdb_memory_limit=merged["duckdb_memory_limit"],
        )

    def may_write(self, field: str) -> bool:
        """Whether ``writable_fields`` lets Pipedrive write this CDP person field."""
        if self.writable_fields is None:
            return True
        return any(field == w or field.startswith(w + ".") for w in self.writable_fields)

    def activity_type_enabled(self, activity_type: str) -> bool:
        """Whether activities of this type are stored and summarised at all."""
        if self.activity_types is None:
            return True
        return any(fnmatch.fnmatchcase(activity_type, p) for p in self.activity_types)

    def retention_days(self, activity_type: str) -> int | None:
        """Days raw activities of this type are kept; None = forever.

        An exact override wins over globs; among globs the longest pattern wins.
        """
        overrides = self.activity_retention_overrides
        if activity_type in overrides:
            return overrides[activity_type]
        globs = [p for p in overrides if fnmatch.fnmatchcase(activity_type, p)]
        if globs:
            return overrides[max(globs, key=len)]
        return self.activity_retention_days


URL_EXAMPLES = "duckdb:///path/to/warehouse.duckdb or postgresql://user:pass@host:5432/db"


#: The PostgreSQL driver the CDP is written with: psycopg 3 (its COPY is the bulk path).
POSTGRESQL_DRIVER = "postgresql+psycopg"


def engine_url(url: str) -> sa.URL:
    """The URL to connect with: ``postgresql://`` or ``postgres://`` (no driver named) means
    psycopg 3.

    SQLAlchemy's default PostgreSQL driver is psycopg2, which is not a dependency and has no
    COPY API of the kind ``bulk.py`` uses; a URL copied from elsewhere rarely names a driver
    (hosting providers give ``postgres://``).
    """
    parsed = sa.engine.make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        return parsed.set(drivername=POSTGRESQL_DRIVER)
    return parsed


def database_url_problem(url: str) -> str | None:
    """What is wrong with ``database_url`` and what to write instead (None when nothing is).

    A malformed URL would fail later with a traceback, and some would not fail at all: an
    in-memory DuckDB takes the records, loses them at exit and lets STATE move on. The
    problem never repeats the URL: it holds the password.
    """
    try:
        parsed = engine_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return (
            "is not a SQLAlchemy URL (is the port a number? are @ : / in the password "
            f"%-encoded?): write {URL_EXAMPLES}"
        )
    backend = parsed.get_backend_name()
    if backend not in {"duckdb", "postgresql"}:
        return f"must be duckdb:/// or postgresql://, not {backend}"
    if parsed.port is not None and not 0 < parsed.port < 65536:  # noqa: PLR2004
        return f"port {parsed.port} is not between 1 and 65535"
    if problem := _driver_problem(parsed):
        return problem
    if backend == "duckdb":
        return _duckdb_url_problem(parsed)
    return None


def _driver_problem(parsed: sa.URL) -> str | None:
    """PostgreSQL through psycopg 3 (``engine_url``), and a driver that is installed."""
    if parsed.get_backend_name() == "postgresql" and parsed.drivername != POSTGRESQL_DRIVER:
        return (
            f"names the driver {parsed.drivername}: the CDP is written with psycopg 3, write "
            "postgresql://user:pass@host:5432/db (or postgresql+psycopg://)"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except (sa.exc.NoSuchModuleError, ImportError):
        return f"driver {parsed.drivername} is not available: write {URL_EXAMPLES}"
    return None


def _duckdb_url_problem(parsed: sa.URL) -> str | None:
    """A DuckDB URL names a file: three slashes, a path, no host, never ``:memory:``."""
    if parsed.host or parsed.username or parsed.port:
        path = "/".join(filter(None, (parsed.host, parsed.database)))
        return (
            f"a DuckDB URL has no host ({parsed.host or parsed.username}): a file takes three "
            f"slashes, duckdb:///{path} (relative to the working directory), or four for an "
            "absolute path"
        )
    if not parsed.database or parsed.database == ":memory:":
        return (
            "is an in-memory DuckDB database: the CDP would be lost at exit while the tap's "
            "state moves on; name a file, duckdb:///warehouse.duckdb"
        )
    return _duckdb_directory_problem(parsed.database)


def _duckdb_directory_problem(database: str) -> str | None:
    """Why a DuckDB file cannot be opened where the URL puts it (None when it can).

    The directory is never created: a missing one is a typo far more often than a wish, and
    creating it would start an empty CDP beside the real one while the tap's bookmarks move on.
    """
    directory = Path(database).expanduser().parent
    if directory.is_dir():
        return None
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a directory: correct the path of {database}"
    return f"directory {directory} does not exist: create it, or correct the path of {database}"


def _lower_set(values: list[Any]) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in values)


def _dotted(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Retention overrides with nested objects read back as dotted activity types.

    Meltano stores an object setting's dotted keys as nested objects (``pipedrive.deal.*: 30``
    reaches the target as ``{"pipedrive": {"deal": {"*": 30}}}``); activity types are dotted,
    so both spellings mean the same override.
    """
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _error(setting: str, problem: str) -> ConfigValidationError:
    message = f"Invalid setting `{setting}`: {problem}"
    return ConfigValidationError(message, errors=[message])
