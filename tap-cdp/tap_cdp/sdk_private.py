"""Every private singer-sdk name tap-cdp touches, and why.

The SDK promises nothing about names with a leading underscore, so an upgrade may drop one
(``singer-sdk~=0.54.9`` today); ``tap-cdp/tests/test_tap_cdp_sdk_private.py`` then fails
naming it. A new use of a private SDK name goes in this table and in :data:`PRIVATE_NAMES`.

=================================  ==============================================================
SDK name                           why tap-cdp needs it
=================================  ==============================================================
``SQLConnector._engine``           read (``client.py``, ``streams.py``): the engine is handed to
                                   ``database.reading`` (read-only, UTC, DuckDB lock wait) and
                                   disposed after each read, so a DuckDB file is released at
                                   once for the target running beside the tap
``SQLStream._singer_catalog_entry``  read (``client.py``): the schema and table a catalog entry
                                   names, to read that table
``SQLTap._catalog_dict``           read and set (``tap.py``): discovery adds the
                                   ``audience_changes`` entry to the tables the SDK discovers
=================================  ==============================================================
"""

from __future__ import annotations

from singer_sdk.sql import SQLConnector, SQLStream, SQLTap

#: SDK class → the private names of it tap-cdp relies on (the table above says why).
PRIVATE_NAMES: dict[type, tuple[str, ...]] = {
    SQLConnector: ("_engine",),
    SQLStream: ("_singer_catalog_entry",),
    SQLTap: ("_catalog_dict",),
}
