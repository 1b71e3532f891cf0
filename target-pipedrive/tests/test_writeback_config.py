"""Bad config fails at startup in one line naming the problem; the render command; the
objects table against Pipedrive's OpenAPI specs."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from pipedrive_sandbox.testing import RunningSandbox
from singer_sdk.exceptions import ConfigValidationError
from target_pipedrive.objects import OBJECTS, SEARCH_PERSONS_COST
from target_pipedrive.render import PERSON_COLUMNS
from target_pipedrive.render import main as render_main
from target_pipedrive.target import TargetPipedrive
from target_pipedrive.templates import Template, TemplateError
from writeback_helpers import ACCEPTANCE_ACTIONS, change, config, messages, person

ROOT = Path(__file__).resolve().parents[2]


def _with(change: dict[str, Any], index: int = 1) -> list[dict[str, Any]]:
    actions = copy.deepcopy(ACCEPTANCE_ACTIONS)
    actions[index] = {**actions[index], **change}
    return actions


BAD_ACTIONS = [
    (
        _with({"fields": {"subject": "Hi {{ person.frist_name }}"}}),
        "action 'call-slipping-subscribers': fields.subject uses unknown variable "
        "person.frist_name; available: ",
    ),
    (
        [*ACCEPTANCE_ACTIONS, {"name": "x", "creat": "deal"}],
        "action 'x': unknown key 'creat'; an action has: ",
    ),
    (
        [*ACCEPTANCE_ACTIONS, {"name": "x", "create": "lead"}],
        "action 'x': unknown object 'lead'; objects: person, organization, deal, activity, note",
    ),
    (
        _with({"fields": {"subjekt": "Hi"}}),
        "action 'call-slipping-subscribers': a activity has no field 'subjekt'; its fields: ",
    ),
    (
        _with({"fields": {"subject": "{{ person.first_name | nosuchfilter }}"}}),
        "action 'call-slipping-subscribers': fields.subject: unknown filter nosuchfilter",
    ),
]


@pytest.mark.parametrize(("actions", "expected"), BAD_ACTIONS)
def test_bad_actions_fail_at_startup_in_one_line(
    sandbox: RunningSandbox, duck: dict[str, str], actions: list, expected: str
) -> None:
    with pytest.raises(ConfigValidationError) as raised:
        TargetPipedrive(config=config(sandbox, duck, actions=actions))
    (message,) = raised.value.errors
    assert "\n" not in message
    assert message.startswith(f"Invalid setting `actions`: {expected}")


@pytest.mark.parametrize(
    ("custom", "expected"),
    [
        ({"deal_sauce": "Partner"}, "deal has no custom field 'deal_sauce'; its custom fields: "),
        (
            {"deal_source": "Parnter"},
            "custom field 'deal_source' has no option 'Parnter'; its options: "
            "Inbound, Outbound, Partner, Upsell",
        ),
    ],
)
def test_unknown_custom_field_or_label_lists_the_valid_ones(
    sandbox: RunningSandbox, duck: dict[str, str], custom: dict, expected: str
) -> None:
    action = {"name": "d", "create": "deal", "fields": {"title": "T", "custom_fields": custom}}
    with pytest.raises(ConfigValidationError) as raised:
        TargetPipedrive(config=config(sandbox, duck, actions=[action]))
    (message,) = raised.value.errors
    assert expected in message
    assert "deal_source" in message


def test_the_command_exits_non_zero_with_the_line(
    sandbox: RunningSandbox, duck: dict[str, str], tmp_path: Path
) -> None:
    settings = config(sandbox, duck, actions=_with({"fields": {"subject": "{{ nobody }}"}}))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    done = subprocess.run(
        [sys.executable, "-m", "target_pipedrive", "--config", str(path)],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "fields.subject uses unknown variable nobody; available: change_id" in done.stderr
    assert sandbox.api_token not in done.stderr


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"api_token": "not-the-token-7c1d"}, "Pipedrive rejected the credentials (HTTP 401"),
        (
            {"api_url": "http://127.0.0.1:9"},
            "connection refused (nothing listens on that port); check api_url (http://127.0.0.1:9)",
        ),
    ],
)
def test_a_refused_token_or_a_wrong_address_is_one_line_at_once(
    sandbox: RunningSandbox, duck: dict[str, str], tmp_path: Path, setting: dict, expected: str
) -> None:
    who = person("p-401", "refused@example.com", "Ann", pipedrive_id=1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config(sandbox, duck), **setting}))
    done = subprocess.run(
        [sys.executable, "-m", "target_pipedrive", "--config", str(path)],
        input=messages([change("p-401:entered", "slipping_subscribers", who=who)]),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(problems) == 1, done.stderr[-3000:]
    assert expected in problems[0]
    assert "retrying" not in done.stderr  # neither is worth a second attempt
    assert "not-the-token-7c1d" not in done.stderr
    assert sandbox.api_token not in done.stderr


@pytest.mark.parametrize(
    ("setting", "faults", "expected"),
    [
        (
            {"database_url": "postgresql://postgres@127.0.0.1:9/cdp"},
            {},
            "Database error while opening the database in postgresql://postgres@127.0.0.1:9/cdp",
        ),
        (
            {"max_retries": 1},
            # the person search goes through; the create answers 500
            {
                "server_error": {
                    "every": 1,
                    "after": 1,
                    "paths": ["/api/v2/persons"],
                    "statuses": [500],
                }
            },
            "HTTP 500 on all 1 attempts, so the create may or may not have happened",
        ),
    ],
)
def test_an_unreachable_ledger_or_an_uncertain_create_is_one_line(
    sandbox: RunningSandbox,
    duck: dict[str, str],
    tmp_path: Path,
    setting: dict,
    faults: dict,
    expected: str,
) -> None:
    who = person("p-500", "uncertain@example.com", "Ann", pipedrive_id=1)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config(sandbox, duck), **setting}))
    sandbox.control.set_faults(faults)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "target_pipedrive", "--config", str(path)],
            input=messages([change("p-500:entered", "slipping_subscribers", who=who)]),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        sandbox.control.clear_faults()
    assert done.returncode == 1
    problems = [line for line in done.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert len(problems) == 1, done.stderr[-3000:]
    assert expected in problems[0]
    assert sandbox.api_token not in done.stderr


def test_render_jsonl_and_strict_variables() -> None:
    lines = [
        {"change_id": "a:entered", "person": {"first_name": "Ann"}, "row": {"won_deals": 3}},
        {"change_id": "b:entered", "person": {"first_name": None}, "row": {}},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    template = "Hi {{ person.first_name | default: 'there' }}: {{ row.won_deals }}"
    result = CliRunner().invoke(render_main, ["--template", template, "--input", "-"], input=text)
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.output.splitlines()] == [
        {"key": "a:entered", "text": "Hi Ann: 3"},
        {"key": "b:entered", "error": "--template: row.won_deals is undefined"},
    ]
    bad = CliRunner().invoke(
        render_main,
        ["--template", "{{ persn.email }}", "--person", "p1", "--database-url", "duckdb:///x.db"],
    )
    assert bad.exit_code == 1
    assert "unknown variable persn.email; available: change_id" in bad.output


def test_sandboxed_templates_have_no_include_and_bounded_loops() -> None:
    with pytest.raises(TemplateError, match="include"):
        Template("{% include 'etc/passwd' %}", "t").render({})
    with pytest.raises(TemplateError, match="limit"):
        Template(
            "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}", "t"
        ).render({})


def test_objects_follow_the_openapi_specs() -> None:
    specs = {
        v: yaml.safe_load((ROOT / "spec" / "pipedrive-openapi" / f"{v}.yaml").read_text())
        for v in ("v1", "v2")
    }
    for target in OBJECTS.values():
        paths = specs[target.version]["paths"]
        create = paths[target.collection]["post"]
        update = paths[target.path][target.update_method.lower()]
        assert (create["x-token-cost"], update["x-token-cost"]) == (
            target.create_cost,
            target.update_cost,
        ), target.name
        schema = create["requestBody"]["content"]["application/json"]["schema"]
        properties: dict[str, Any] = {}
        for part in [schema, *schema.get("allOf", [])]:
            properties |= part.get("properties", {})
        assert set(target.fields) <= set(properties), (
            target.name,
            set(target.fields) - set(properties),
        )
    search = specs["v2"]["paths"]["/persons/search"]["get"]
    assert search["x-token-cost"] == SEARCH_PERSONS_COST


def test_render_for_each_member_of_an_audience_and_one_person(duck: dict[str, str]) -> None:
    engine = sa.create_engine(duck["database_url"])
    person_columns = ", ".join(f"{c} TEXT" for c in PERSON_COLUMNS if c != "attributes")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA cdp_people")  # a name other than the file's
        conn.exec_driver_sql(f"CREATE TABLE cdp_people.people ({person_columns}, attributes JSON)")
        conn.exec_driver_sql(
            "INSERT INTO cdp_people.people (person_id, first_name, email, attributes) VALUES "
            "('p1', 'Ann', 'ann@x.org', '{\"tier\": \"gold\"}'), ('p2', NULL, 'b@x.org', '{}')"
        )
        conn.exec_driver_sql("CREATE SCHEMA audiences")
        conn.exec_driver_sql(
            "CREATE TABLE audiences.audience_membership (membership_id TEXT, audience TEXT, "
            "member_kind TEXT, member_id TEXT, stint_number INTEGER, entered_at TIMESTAMPTZ, "
            "exited_at TIMESTAMPTZ)"
        )
        conn.exec_driver_sql(
            "INSERT INTO audiences.audience_membership VALUES "
            "('a1', 'vip', 'person', 'p1', 1, '2026-06-01 09:30:00+00', NULL), "
            "('a2', 'vip', 'person', 'p2', 1, '2026-06-02 09:30:00+00', NULL), "
            "('a0', 'vip', 'person', 'p2', 1, '2026-05-01 09:30:00+00', '2026-05-03 00:00:00+00'), "
            "('b1', 'other', 'person', 'p1', 1, '2026-06-01 09:30:00+00', NULL)"
        )
    engine.dispose()
    url = ["--database-url", duck["database_url"], "--schema", "cdp_people"]
    template = (
        "{{ person.first_name | default: 'friend' }} ({{ person.attributes.tier }}) "
        "{{ entered_at | date: '%d.%m.' }}"
    )
    members = CliRunner().invoke(render_main, ["--template", template, "--audience", "vip", *url])
    assert members.exit_code == 0, members.output
    assert [json.loads(line) for line in members.output.splitlines()] == [
        {"key": "a1", "text": "Ann (gold) 01.06."},
        {"key": "a2", "error": "--template: person.attributes.tier is undefined"},
    ]
    preview = CliRunner().invoke(
        render_main, ["--template", "Hi {{ person.email }}", "--person", "p2", *url]
    )
    assert [json.loads(line) for line in preview.output.splitlines()] == [
        {"key": "p2", "text": "Hi b@x.org"}
    ]
