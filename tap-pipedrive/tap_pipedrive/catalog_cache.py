"""Discovery's catalogs kept between runs, keyed by everything that shapes them.

Meltano runs ``tap-pipedrive --discover`` before every run of an editable install (it caches
discovery only for packages it installed itself, and never notices a new custom field). Most
runs find the account as it was: the same field definitions give the same catalog. So a
discovery whose key has a file in ``catalog_cache_dir`` prints that file instead of building
the schemas again. The key is a hash of

* the field definitions the schemas are built from (as read for this discovery: a custom field
  created, renamed or retyped in Pipedrive changes the key, so it reaches the catalog at once),
* the tap's own code and schemas (any other version of the tap builds its own catalog) and the
  SDK's version,
* the settings (secrets left out: they never reach a file, and the definitions already say
  what the credentials may read).

One file per key, so extractors that inherit from the tap with other settings
(``tap-pipedrive-live``) share the directory without evicting each other. A file is written
to a sibling and renamed over, so two discoveries at once leave one whole catalog (the same
one: same key, same catalog), and a reader sees the old file or the new one, never half. A
file that is not a catalog is reported in one warning line and built again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from contextlib import suppress
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

PACKAGE_DIR = Path(__file__).resolve().parent
# Files untouched for this long are catalogs no discovery asked for lately (settings or
# definitions that changed since): removed when a new catalog is written.
UNUSED_AFTER_SECONDS = 30 * 24 * 3600


@cache
def code_fingerprint() -> str:
    """A hash of the tap's modules and schemas (an editable install changes without a new
    version number) and of the SDK's version, which shapes the catalog's metadata."""
    digest = hashlib.sha256(metadata.version("singer-sdk").encode())
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def catalog_key(
    config: Mapping[str, Any],
    secrets: frozenset[str],
    definitions: Mapping[str, list[dict[str, Any]] | None],
) -> str:
    """The key of the catalog built from ``definitions`` (per field stream; None: Pipedrive
    refused the list) with ``config`` by this code."""
    shaping = {
        "code": code_fingerprint(),
        "settings": {name: value for name, value in config.items() if name not in secrets},
        "definitions": definitions,
    }
    text = json.dumps(shaping, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class CatalogCache:
    """The catalogs in one directory, one ``catalog-<key>.json`` file each."""

    def __init__(self, directory: str, logger: logging.Logger) -> None:
        self.directory = Path(directory)
        self.logger = logger

    def path(self, key: str) -> Path:
        """Where the catalog of ``key`` lives."""
        return self.directory / f"catalog-{key}.json"

    def read(self, key: str) -> str | None:
        """The cached catalog text of ``key`` (None: not cached, or not a catalog, said once)."""
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._discard(path, f"it cannot be read ({exc.__class__.__name__})")
            return None
        try:
            catalog = json.loads(text)
        except json.JSONDecodeError:
            catalog = None
        if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
            self._discard(path, "it is not a catalog")
            return None
        with suppress(OSError):  # another discovery may be replacing it
            os.utime(path)  # in use: not pruned
        return text

    def write(self, key: str, text: str) -> None:
        """Store the catalog of ``key`` atomically; drop catalogs nobody used for a month.

        A directory that cannot be written is one warning: discovery still prints the catalog.
        """
        path = self.path(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(handle, "w") as out:
                    out.write(text)
                Path(temporary).replace(path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            self.logger.warning(
                "Could not write the discovery cache %s (%s); discovery works, uncached",
                path,
                exc.strerror or exc.__class__.__name__,
            )
            return
        self._prune(keep=path)

    def _discard(self, path: Path, reason: str) -> None:
        self.logger.warning(
            "Ignored the discovery cache file %s: %s; building the catalog again", path, reason
        )

    def _prune(self, keep: Path) -> None:
        cutoff = time.time() - UNUSED_AFTER_SECONDS
        for old in self.directory.glob("catalog-*.json"):
            with suppress(OSError):  # another discovery may have removed it
                if old != keep and old.stat().st_mtime < cutoff:
                    old.unlink()
