"""Pipedrive webhooks v2 receiver: a durable spool in front of the live sync.

``Spool`` (``spool.py``) is the API later parts build on: ``read_after(position)`` for the live
tap, ``begin_run``/``record_applied``/``finish_run`` for the applying job.
"""

from pipedrive_webhooks.spool import RunRecord, Spool, SpooledEvent, SpoolStatus

__all__ = ["RunRecord", "Spool", "SpoolStatus", "SpooledEvent"]
