"""Catalogs: small FULL_TABLE lists read whole every run (users, pipelines, stages, activity
types), versioned so a removed row is retired downstream."""

from __future__ import annotations

from tap_pipedrive.client import PipedriveStream


class UsersStream(PipedriveStream):
    """``GET /api/v1/users`` (one response with every user)."""

    name = "users"
    path = "/users"
    api_version = "v1"
    paginated = False
    primary_keys = ("id",)


class PipelinesStream(PipedriveStream):
    """``GET /api/v2/pipelines``."""

    name = "pipelines"
    path = "/pipelines"
    primary_keys = ("id",)


class StagesStream(PipedriveStream):
    """``GET /api/v2/stages``."""

    name = "stages"
    path = "/stages"
    primary_keys = ("id",)


class ActivityTypesStream(PipedriveStream):
    """``GET /api/v1/activityTypes`` (one response with every type)."""

    name = "activity_types"
    path = "/activityTypes"
    api_version = "v1"
    paginated = False
    primary_keys = ("id",)
