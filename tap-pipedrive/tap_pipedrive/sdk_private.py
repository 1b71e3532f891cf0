"""Every private singer-sdk name tap-pipedrive overrides or touches, and why.

The SDK promises nothing about names with a leading underscore: an upgrade may remove or rename
one, and an override of a vanished method silently stops being called. So the tap keeps the list
here, and ``tap-pipedrive/tests/test_tap_sdk_private.py`` fails naming the SDK name when an
upgrade (``singer-sdk~=0.54.9`` today) drops one. A new use of a private SDK name goes in this
table and in :data:`PRIVATE_NAMES`.

=========================================  =====================================================
SDK name                                   why the tap needs it
=========================================  =====================================================
``Stream._generate_record_messages``       overridden (``records.py``): skips the SDK's
                                           per-record selection walk when nothing is
                                           deselected, its largest cost per record
``Stream._write_activate_version_message`` overridden and called (``versioning.py``,
                                           ``incremental.py``): ACTIVATE_VERSION only after
                                           every record Pipedrive holds, and at the end of a
                                           reconciliation pass (the SDK sends it only for
                                           FULL_TABLE)
``Stream._write_schema_message``           called (``live.py``): a new SCHEMA when a webhook
                                           names a custom field the definitions did not know
``Stream._schema``                         read and reset (``records.py``, ``live.py``): the
                                           schema is built on first use, so a run that does not
                                           select a stream never asks for its field list
``Stream._input_schema``                   extended (``live.py``): the catalog's schema gains
                                           the custom fields learnt mid-run
``Stream._stream_version``                 set and read (``versioning.py``,
                                           ``incremental.py``, ``records.py``): records
                                           carry the table version of the run or of the
                                           reconciliation pass in progress
``Stream._stream_maps``                    emptied (``live.py``): the stream maps are rebuilt
                                           from the schema with the new custom fields
``RESTStream._requests_session``           replaced (``client.py``): a session that refuses
                                           redirects carrying credentials to another host
``PluginBase._validate_config``            overridden (``tap.py``): every settings problem in
                                           one line, never a secret's value
``OAuthAuthenticator._session``            replaced (``auth.py``): the same redirect guard for
                                           the OAuth token endpoint
``OAuthAuthenticator._oauth_headers``      read (``auth.py``): the Basic credentials the SDK
                                           keeps, sent by the tap's own retrying token request
=========================================  =====================================================
"""

from __future__ import annotations

from singer_sdk import RESTStream, Stream
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.plugin_base import PluginBase

#: SDK class → the private names of it the tap relies on (the table above says why).
PRIVATE_NAMES: dict[type, tuple[str, ...]] = {
    Stream: (
        "_generate_record_messages",
        "_write_activate_version_message",
        "_write_schema_message",
        "_schema",
        "_input_schema",
        "_stream_version",
        "_stream_maps",
    ),
    RESTStream: ("_requests_session",),
    PluginBase: ("_validate_config",),
    OAuthAuthenticator: ("_session", "_oauth_headers"),
}


def missing_names(sdk_class: type, sample: object) -> list[str]:
    """The private names of ``sdk_class`` in :data:`PRIVATE_NAMES` the SDK no longer has: a
    method must be on the class itself, an attribute on ``sample``, an instance whose private
    attributes only the SDK's own ``__init__`` set."""
    return [
        f"singer_sdk {sdk_class.__module__}.{sdk_class.__qualname__}.{name}"
        for name in PRIVATE_NAMES[sdk_class]
        if not hasattr(sdk_class, name) and name not in vars(sample)
    ]
