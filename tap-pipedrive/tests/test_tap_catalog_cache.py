"""Discovery's catalog cache (``catalog_cache_dir``) and what a run imports at start-up.

A second discovery of an unchanged account prints the catalog the first one built without
building a schema; a new custom field, another setting or a damaged file builds it again; two
discoveries at once leave one whole catalog. Discovery and a polling sync never import
SQLAlchemy (only the live mode's spool reader needs it).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tap_helpers import TAP_EXECUTABLE, fake_api, sandbox_config, v2_page
from tap_pipedrive.catalog_cache import CatalogCache
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.tap import TapPipedrive


def discover(config: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The catalog ``tap-pipedrive --discover`` prints, run in this process."""
    capsys.readouterr()
    TapPipedrive(config=config, setup_mapper=False).run_discovery()
    return json.loads(capsys.readouterr().out)


def custom_fields_of(catalog: dict[str, Any], stream: str) -> set[str]:
    """The readable names in a stream's ``custom_fields`` schema."""
    [entry] = [e for e in catalog["streams"] if e["tap_stream_id"] == stream]
    return set(entry["schema"]["properties"]["custom_fields"]["properties"])


def cached_files(directory: Path) -> list[Path]:
    """The catalog files in the cache directory (hidden temporary files included)."""
    return sorted(directory.iterdir()) if directory.exists() else []


def field(code: str, name: str) -> dict[str, Any]:
    """An API v2 custom field definition of type text."""
    return {
        "field_code": code,
        "field_name": name,
        "field_type": "varchar",
        "is_custom_field": True,
    }


@pytest.fixture
def config(tmp_path: Path, shared_sandbox: Any) -> dict[str, Any]:
    """Settings for the shared sandbox with the cache in ``tmp_path / "cache"``."""
    return sandbox_config(shared_sandbox, catalog_cache_dir=str(tmp_path / "cache"))


def test_an_unchanged_account_is_not_discovered_again(
    config: dict[str, Any],
    tmp_path: Path,
    shared_sandbox: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uncached = discover(sandbox_config(shared_sandbox), capsys)
    first = discover(config, capsys)
    assert first == uncached
    assert [p.name for p in cached_files(tmp_path / "cache")] != []

    def no_schema(stream: PipedriveStream) -> dict[str, Any]:
        raise AssertionError(f"{stream.name}: schema built again")

    monkeypatch.setattr(PipedriveStream, "build_schema", no_schema)
    second = discover(config, capsys)

    assert second == uncached
    [path] = cached_files(tmp_path / "cache")
    assert shared_sandbox.api_token not in path.name + path.read_text()


def test_a_new_custom_field_and_another_setting_are_discovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = [field("a" * 40, "Region")]
    after = [*before, field("b" * 40, "Shoe size")]
    routes = {
        "/api/v2/personFields": [(200, v2_page(before), {}), (200, v2_page(after), {})],
        "/api/v2/organizationFields": [(200, v2_page([]), {})],
        "/api/v2/dealFields": [(200, v2_page([]), {})],
    }
    with fake_api(routes) as api:
        config = {
            "api_url": api.url,
            "api_token": "t",
            "catalog_cache_dir": str(tmp_path / "cache"),
        }
        first = discover(config, capsys)
        second = discover(config, capsys)  # the field was created in Pipedrive meanwhile
        third = discover({**config, "include_custom_fields": False}, capsys)

    assert custom_fields_of(first, "persons") == {"region"}
    assert custom_fields_of(second, "persons") == {"region", "shoe_size"}
    # the first two discoveries read the list; without custom fields none is needed
    assert api.paths().count("/api/v2/personFields") == 2
    persons = next(e for e in third["streams"] if e["tap_stream_id"] == "persons")
    assert "custom_fields" not in persons["schema"]["properties"]
    assert len(cached_files(tmp_path / "cache")) == 3


def test_a_damaged_cache_file_is_one_warning_and_built_again(
    config: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = discover(config, capsys)
    [path] = cached_files(tmp_path / "cache")
    path.write_text(path.read_text()[:1000])  # cut short, as a full disk would leave it

    with caplog.at_level(logging.WARNING):
        again = discover(config, capsys)

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"Ignored the discovery cache file {path}: it is not a catalog; building the catalog again"
    ]
    assert again == good
    assert json.loads(path.read_text()) == good


def test_two_discoveries_at_once_leave_one_whole_catalog(
    config: dict[str, Any], tmp_path: Path
) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    cache = tmp_path / "cache"
    command = [TAP_EXECUTABLE, "--config", str(config_file), "--discover"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0]
    catalogs = [json.loads(out) for out in outputs]
    assert catalogs[0] == catalogs[1] == catalogs[2]
    [path] = cached_files(cache)  # no temporary file left behind
    assert json.loads(path.read_text()) == catalogs[0]


def test_a_reader_never_sees_half_a_catalog_while_writers_replace_it(tmp_path: Path) -> None:
    cache = CatalogCache(str(tmp_path), logging.getLogger("test"))
    texts = [json.dumps({"streams": [{"n": n, "pad": "x" * 200_000}]}) for n in range(4)]
    seen: list[str | None] = []

    def write(text: str) -> None:
        for _ in range(20):
            cache.write("k", text)

    writers = [threading.Thread(target=write, args=(text,)) for text in texts]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        seen.append(cache.read("k"))
    for writer in writers:
        writer.join()

    assert {text for text in seen if text is not None} <= set(texts)
    assert cache.read("k") in texts
    assert [p.name for p in cached_files(tmp_path)] == ["catalog-k.json"]


def test_discovery_and_a_polling_sync_do_not_import_sqlalchemy(shared_sandbox: Any) -> None:
    """SQLAlchemy is a third of the tap's import time; only the live mode's spool needs it."""
    config = sandbox_config(shared_sandbox)
    program = (
        "import json, os, sys\n"
        "from tap_pipedrive.tap import TapPipedrive\n"
        f"config = json.loads({json.dumps(json.dumps(config))})\n"
        "catalog = TapPipedrive(config=config).catalog_dict\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "TapPipedrive(config=config, catalog=catalog).run_sync()\n"
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.startswith('sqlalchemy'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stderr.splitlines()[-1] == "[]"
