"""The private singer-sdk names the tap relies on (:mod:`tap_pipedrive.sdk_private`) still exist."""

from __future__ import annotations

import pytest
from singer_sdk import RESTStream, Stream
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.plugin_base import PluginBase
from tap_pipedrive import sdk_private
from tap_pipedrive.tap import TapPipedrive


def _samples() -> dict[type, object]:
    tap = TapPipedrive(config={"api_token": "secret", "include_custom_fields": False})
    stream = tap.streams["users"]
    return {
        Stream: stream,
        RESTStream: stream,
        PluginBase: tap,
        OAuthAuthenticator: OAuthAuthenticator(auth_endpoint="https://oauth.example/token"),
    }


def test_the_sdk_still_has_every_private_name_the_tap_relies_on() -> None:
    samples = _samples()
    missing = [
        name
        for sdk_class in sdk_private.PRIVATE_NAMES
        for name in sdk_private.missing_names(sdk_class, samples[sdk_class])
    ]
    assert not missing, (
        "the installed singer-sdk no longer has " + ", ".join(missing) + ": see the table in "
        "tap_pipedrive/sdk_private.py for what the tap does with each, and adapt that code"
    )


def test_a_vanished_name_is_reported_with_its_sdk_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sdk_private.PRIVATE_NAMES, Stream, ("_schema", "_write_schema_messages"))
    assert sdk_private.missing_names(Stream, _samples()[Stream]) == [
        "singer_sdk singer_sdk.streams.core.Stream._write_schema_messages"
    ]


def test_every_private_name_is_explained_in_the_table() -> None:
    for sdk_class, names in sdk_private.PRIVATE_NAMES.items():
        for name in names:
            assert f"``{sdk_class.__name__}.{name}``" in (sdk_private.__doc__ or ""), name
