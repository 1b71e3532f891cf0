"""Every private singer-sdk name target-pipedrive overrides (``sdk_private.py``) is still there.

After an SDK upgrade a failure here names the SDK name that moved, instead of an override that
is silently never called.
"""

from __future__ import annotations

import inspect

import pytest
from singer_sdk import Target
from singer_sdk.sinks import Sink
from target_cdp.sdk_private import PrivateName, moved
from target_pipedrive.sdk_private import PRIVATE_NAMES
from target_pipedrive.sink import ActionSink
from target_pipedrive.target import TargetPipedrive


@pytest.mark.parametrize("private", PRIVATE_NAMES, ids=lambda p: f"{p.owner}.{p.name}")
def test_private_name_is_still_there(private: PrivateName) -> None:
    problem = moved(private, "target_pipedrive/sdk_private.py")
    assert problem is None, problem


@pytest.mark.parametrize(("ours", "sdk"), [(TargetPipedrive, Target), (ActionSink, Sink)])
def test_every_private_method_overridden_is_an_sdk_one_and_listed(ours: type, sdk: type) -> None:
    """A private method named like an SDK hook but not the SDK's (``_process_endofpipe``) is
    never called; one the SDK has must be in the list."""
    listed = {p.name for p in PRIVATE_NAMES}
    for name, value in vars(ours).items():
        if not (inspect.isfunction(value) and name.startswith("_") and not name.startswith("__")):
            continue
        if name.startswith(("_process_", "_parse_", "_validate", "_add_sdc")):
            assert hasattr(sdk, name), f"{ours.__name__}.{name} overrides nothing in singer-sdk"
        if hasattr(sdk, name):
            assert name in listed, f"{ours.__name__}.{name} is not in sdk_private.py"
