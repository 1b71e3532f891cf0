"""Every private singer-sdk name target-cdp uses (``sdk_private.py``) is still there, as expected.

After an SDK upgrade a failure here names the SDK name that moved and where the target uses
it, instead of a run that silently stops keeping versions or rejecting bad records.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import version

import pytest
from singer_sdk import Target
from singer_sdk.sinks import Sink
from target_cdp.sdk_private import PRIVATE_NAMES, PrivateName
from target_cdp.sinks import SINKS, UnknownStreamSink
from target_cdp.target import TargetCDP


def _resolve(path: str) -> object:
    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    return getattr(found, name) if name else found


def _parameters(function: object) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize("private", PRIVATE_NAMES, ids=lambda p: f"{p.owner}.{p.name}")
def test_private_name_is_still_there(private: PrivateName) -> None:
    owner = _resolve(private.owner)
    where = f"singer-sdk {version('singer-sdk')}: {private.owner.replace(':', '.')}.{private.name}"
    if private.parameters is None and inspect.ismodule(owner):
        assert hasattr(owner, private.name), f"{where} is gone (see target_cdp/sdk_private.py)"
    elif private.parameters is None:
        assert isinstance(owner, type)
        init = inspect.getsource(owner.__init__)
        assert f"self.{private.name}" in init, (
            f"{where} is no longer set by {owner.__name__}.__init__ (see target_cdp/sdk_private.py)"
        )
    else:
        assert hasattr(owner, private.name), f"{where} is gone (see target_cdp/sdk_private.py)"
        found = _parameters(getattr(owner, private.name))
        assert found == private.parameters, (
            f"{where} now takes {found}, target-cdp expects {private.parameters} "
            "(see target_cdp/sdk_private.py)"
        )


@pytest.mark.parametrize(
    "private",
    [p for p in PRIVATE_NAMES if p.overridden_in],
    ids=lambda p: f"{p.overridden_in}.{p.name}",
)
def test_override_keeps_the_sdk_parameters(private: PrivateName) -> None:
    cls = _resolve(str(private.overridden_in))
    assert isinstance(cls, type)
    assert private.name in cls.__dict__, f"{cls.__name__} no longer overrides {private.name}"
    assert _parameters(getattr(cls, private.name)) == private.parameters


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
