"""The private singer-sdk names tap-cdp relies on (:mod:`tap_cdp.sdk_private`) still exist."""

from __future__ import annotations

from pathlib import Path

import duckdb
from singer_sdk.sql import SQLTap
from tap_cdp import sdk_private
from tap_cdp.tap import TapCDP


def test_the_sdk_still_has_every_private_name_tap_cdp_relies_on(tmp_path: Path) -> None:
    # An attribute the SDK sets in __init__ is looked for on a tap made by that __init__.
    database = tmp_path / "cdp.duckdb"
    duckdb.connect(str(database)).close()
    tap = TapCDP(config={"database_url": f"duckdb:///{database}"})
    instance_attributes = {SQLTap: vars(tap)}
    gone = [
        f"singer_sdk {sdk_class.__module__}.{sdk_class.__qualname__}.{name}"
        for sdk_class, names in sdk_private.PRIVATE_NAMES.items()
        for name in names
        if not hasattr(sdk_class, name) and name not in instance_attributes.get(sdk_class, {})
    ]
    assert not gone, (
        "the installed singer-sdk no longer has " + ", ".join(gone) + ": see the table in "
        "tap_cdp/sdk_private.py for what tap-cdp does with each, and adapt that code"
    )


def test_every_private_name_is_explained_in_the_table() -> None:
    for sdk_class, names in sdk_private.PRIVATE_NAMES.items():
        for name in names:
            assert f"``{sdk_class.__name__}.{name}``" in (sdk_private.__doc__ or ""), name
