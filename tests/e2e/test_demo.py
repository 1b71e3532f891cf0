"""`make demo` (scripts/demo.py), run once at a small DEMO_SCALE in a throwaway copy of the project.

The copy has the demo, meltano.yml and the dbt project; the plugins' virtualenvs are the
repository's (linked, never installed), and Meltano's system database is private. A dev CDP
file and a dev state stand for a user's real account: the demo must leave both alone, keep its
CDP and state apart, and its summary must say what happened in the CDP (deletions, derived
activities, what became of the unsubscribe, audience members moving) and end with a select:
pattern that matched nothing (one typo'd stream is added to meltano.yml's select: here).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

pytestmark = [pytest.mark.meltano]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
PLUGIN_VENVS = ("extractors/tap-pipedrive", "loaders/target-cdp", "utilities/dbt")
DEV_STATE_ID = "dev:tap-pipedrive-to-target-cdp"
DEV_STATE = {"singer_state": {"bookmarks": {"persons": {"replication_key_value": "2026-01-01"}}}}


@dataclass
class Demo:
    """The throwaway project after the demo ran, and what the demo printed."""

    project: Path
    env: dict[str, str]
    output: str
    dev_file_digest: str

    def meltano(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "meltano"), *args],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return result.stdout + result.stderr

    def rows(self, sql: str) -> list[tuple]:
        path = self.project / "output" / "demo.duckdb"
        with duckdb.connect(str(path), read_only=True) as db:
            return db.execute(sql).fetchall()

    def section(self, title: str) -> str:
        """The summary's lines from ``title`` to the next blank line."""
        start = self.output.index(title)
        end = self.output.find("\n\n", start)
        return self.output[start : end if end >= 0 else None]


def _shipped_select() -> list[str]:
    project_yml = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project_yml["plugins"]["extractors"] if p["name"] == "tap-pipedrive")
    return tap["select"]


def _install_plugins(env: dict[str, str], system_db: Path) -> None:
    """Install the repository's plugin virtualenvs the copy links to, if a fresh clone has none."""
    if all((ROOT / ".meltano" / venv).is_dir() for venv in PLUGIN_VENVS):
        return
    subprocess.run(
        [str(BIN / "meltano"), "run", "--only-install", "tap-pipedrive", "target-cdp", "dbt:build"],
        cwd=ROOT,
        env={**env, "MELTANO_DATABASE_URI": f"sqlite:///{system_db}"},
        check=True,
        capture_output=True,
        timeout=900,
    )


def _copy_project(project: Path) -> None:
    shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    (project / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.py", project / "scripts" / "demo.py")
    shutil.copytree(
        ROOT / "transform", project / "transform", ignore=shutil.ignore_patterns("target", "logs")
    )
    for package in ("tap-pipedrive", "target-cdp"):
        (project / package).symlink_to(ROOT / package)
    for venv in PLUGIN_VENVS:
        link = project / ".meltano" / venv
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / ".meltano" / venv)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    project = tmp_path_factory.mktemp("project")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}",
        "DEMO_SCALE": "300",
        # meltano.yml's select: with a typo'd stream added
        "TAP_PIPEDRIVE__SELECT": json.dumps([*_shipped_select(), "persosn.*"]),
    }
    _install_plugins(env, project / "install.db")
    _copy_project(project)
    dev_file = project / "output" / "warehouse.duckdb"
    dev_file.parent.mkdir()
    with duckdb.connect(str(dev_file)) as db:
        db.execute("create table my_account as select 42 as customers")
    digest = hashlib.sha256(dev_file.read_bytes()).hexdigest()
    subprocess.run(
        [str(BIN / "meltano"), "state", "set", "--force", DEV_STATE_ID, json.dumps(DEV_STATE)],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    result = subprocess.run(
        [str(BIN / "python"), "scripts/demo.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Demo(project, env, result.stdout, digest)


def test_the_demo_leaves_the_dev_cdp_and_state_alone(demo: Demo) -> None:
    dev_file = demo.project / "output" / "warehouse.duckdb"
    assert dev_file.exists()
    assert hashlib.sha256(dev_file.read_bytes()).hexdigest() == demo.dev_file_digest
    dev_state = demo.meltano("state", "get", DEV_STATE_ID)
    assert json.loads(dev_state[dev_state.index("{") : dev_state.rindex("}") + 1]) == DEV_STATE


def test_the_demo_has_its_own_cdp_file_and_state(demo: Demo) -> None:
    assert demo.rows("select count(*) from cdp.people")[0][0] > 0
    assert demo.rows("select count(*) from audiences.engaged_deals")[0][0] >= 0
    states = demo.meltano("state", "list")
    assert "demo:tap-pipedrive-to-target-cdp" in states
    assert "output/demo.duckdb" in demo.output


def _change(demo: Demo, pattern: str) -> int:
    match = re.search(pattern, demo.output)
    assert match, f"no change line like {pattern!r}"
    return int(match.group(1))


def test_the_summary_shows_the_deal_deleted_between_the_runs(demo: Demo) -> None:
    deleted = _change(demo, r"- deal (\d+) \(.*\) deleted")
    run_2 = demo.section("Run 2 (")
    header = run_2.splitlines()[1].split()
    deals = next(line.split() for line in run_2.splitlines() if line.split()[0] == "deals")
    assert dict(zip(header, deals, strict=True))["deleted"] == "1"
    assert demo.rows(f"select is_deleted from cdp.deals where pipedrive_deal_id = {deleted}") == [
        (True,)
    ]
    total = demo.rows("select count(*) from cdp.deals where is_deleted")[0][0]
    assert re.search(rf"deals\s+\d+\s+\({total} deleted\)", demo.output)


def test_the_summary_names_the_derived_activities_apart_from_the_activities_stream(
    demo: Demo,
) -> None:
    derived = demo.rows("select count(*) from cdp.activities")[0][0]
    assert re.search(rf"derived activities\s+{derived}\s", demo.output)
    run_1 = demo.section("Run 1 (")
    assert run_1.splitlines()[1].split()[-1] == "derived"
    legend = " ".join(demo.output.split())
    assert "the `activities` row is Pipedrive's own activities stream" in legend


def test_the_summary_says_why_the_unsubscribed_person_keeps_their_permission(demo: Demo) -> None:
    person = _change(demo, r"- person (\d+) \(.*\) unsubscribed")
    rows = demo.rows(
        f"select email_permission from cdp.people where pipedrive_person_id = {person}"
    )
    assert rows == [(True,)]
    paragraph = re.search(
        rf"\nperson {person} \(.*?\) unsubscribed in Pipedrive.*?\n\n", demo.output, re.S
    )
    assert paragraph, "no paragraph about the unsubscribed person"
    explanation = " ".join(paragraph.group(0).split())
    assert "keeps email permission" in explanation
    assert "existing_person_unchanged" in explanation
    assert "propagate_unsubscribes: true" in explanation


def test_the_changes_visibly_move_an_audience(demo: Demo) -> None:
    deleted = _change(demo, r"- deal (\d+) \(.*\) deleted")
    audiences = demo.section("Audiences after run 1 -> after run 2")
    engaged = next(line for line in audiences.splitlines() if "engaged_deals" in line)
    before, after = (int(n) for n in re.findall(r"(\d+) -> (\d+)", engaged)[0])
    members = {
        row[0]
        for row in demo.rows(
            "select d.pipedrive_deal_id from audiences.engaged_deals"
            " join cdp.deals d using (deal_id)"
        )
    }
    assert len(members) == after
    assert re.search(rf"-deal {deleted}(\s|$)", engaged)
    assert deleted not in members
    assert before != after or "+deal" in engaged


def test_a_typo_in_select_is_the_last_thing_the_demo_says(demo: Demo) -> None:
    last = demo.output.rstrip().rsplit("\n\n", 1)[-1]
    assert last.startswith("Warnings (meltano.yml):")
    assert "select: 'persosn.*' matches no stream of tap-pipedrive (did you mean persons?)" in (
        " ".join(last.split())
    )
