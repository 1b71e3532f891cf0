"""singer-sdk's standard tap tests, against the shared sandbox, with every stream selected
(the optional changelog streams too: the SDK's schema checks read the catalog's selection)."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_helpers import SHARED, catalog_for, sandbox_config
from tap_pipedrive.streams import STREAM_NAMES
from tap_pipedrive.tap import TapPipedrive

CONFIG = sandbox_config(SHARED["sandbox"])

TestTapPipedrive = get_tap_test_class(
    TapPipedrive,
    config=CONFIG,
    catalog=catalog_for(CONFIG, set(STREAM_NAMES)),
    suite_config=SuiteConfig(max_records_limit=50),
)
