"""Every private singer-sdk name target-cdp uses (``sdk_private.py``) is still there, as expected.

After an SDK upgrade a failure here names the SDK name that moved and where the target uses
it, instead of a run that silently stops keeping versions or rejecting bad records.
"""

from __future__ import annotations

import inspect

import pytest
from singer_sdk import Target
from singer_sdk.sinks import Sink
from target_cdp.sdk_private import PRIVATE_NAMES, PrivateName, moved
from target_cdp.sinks import SINKS, UnknownStreamSink
from target_cdp.target import TargetCDP


@pytest.mark.parametrize("private", PRIVATE_NAMES, ids=lambda p: f"{p.owner}.{p.name}")
def test_private_name_is_still_there(private: PrivateName) -> None:
    problem = moved(private, "target_cdp/sdk_private.py")
    assert problem is None, problem


def test_a_moved_name_is_one_line_naming_it() -> None:
    gone = PrivateName("singer_sdk.sinks.core:Sink", "_no_such_method", ("self",))
    problem = moved(gone, "target_cdp/sdk_private.py")
    assert problem is not None
    assert "singer_sdk.sinks.core.Sink._no_such_method is gone" in problem


def test_every_private_sdk_name_the_target_overrides_is_listed() -> None:
    """A new override of a private SDK method must join the list (and its docstring)."""
    listed = {(p.owner, p.name) for p in PRIVATE_NAMES}
    sinks = {*SINKS.values(), UnknownStreamSink}
    for ours, sdk, owner in [
        *((cls, Sink, "singer_sdk.sinks.core:Sink") for cls in sinks),
        (TargetCDP, Target, "singer_sdk.target_base:Target"),
    ]:
        for klass in ours.__mro__:
            if klass.__module__.startswith("singer_sdk"):
                break
            for name, value in vars(klass).items():
                method = inspect.isfunction(value) or isinstance(value, property | classmethod)
                private = name.startswith("_") and not name.startswith("__")
                if method and private and hasattr(sdk, name):
                    assert (owner, name) in listed, f"{klass.__name__}.{name} is not in sdk_private"
