"""target-cdp's command line, paused at a point a test chooses, to deliver a signal there.

``python paused_target.py MODULE:QUALNAME N MARKER -- <target-cdp arguments>`` runs target-cdp
as its console script does, except that after the N-th call of ``MODULE.QUALNAME`` returns (its
writes done, its transaction still open) the process writes the file MARKER and sleeps until a
signal ends it. The test waits for MARKER, then signals: the signal always lands at that point,
with no sleep racing the target.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import Any


def pause_after(where: str, calls: int, marker: Path) -> None:
    """Make the ``calls``-th call of ``module:qualname`` write ``marker`` and wait for a signal."""
    module_name, qualname = where.split(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    seen = 0

    def paused(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        result = original(*args, **kwargs)
        seen += 1
        if seen == calls:
            marker.write_text(where)
            while True:
                time.sleep(0.01)
        return result

    setattr(owner, name, paused)


if __name__ == "__main__":
    where, calls, marker, separator, *target_args = sys.argv[1:]
    assert separator == "--"
    pause_after(where, int(calls), Path(marker))
    from target_cdp.target import TargetCDP

    sys.argv = ["target-cdp", *target_args]
    TargetCDP.cli()
