"""Catalogs: small FULL_TABLE lists read whole every run (users, pipelines, stages, activity
types), versioned so a removed row is retired downstream."""

from __future__ import annotations

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.endpoints import Endpoint


class UsersStream(PipedriveStream):
    """``GET /api/v1/users`` (one response with every user)."""

    name = "users"
    endpoints = (Endpoint("v1", "/users", 20),)
    paginated = False
    primary_keys = ("id",)


class PipelinesStream(PipedriveStream):
    """``GET /api/v2/pipelines``."""

    name = "pipelines"
    endpoints = (Endpoint("v2", "/pipelines", 5),)
    primary_keys = ("id",)


class StagesStream(PipedriveStream):
    """``GET /api/v2/stages``."""

    name = "stages"
    endpoints = (Endpoint("v2", "/stages", 5),)
    primary_keys = ("id",)


class ActivityTypesStream(PipedriveStream):
    """``GET /api/v1/activityTypes`` (one response with every type)."""

    name = "activity_types"
    endpoints = (Endpoint("v1", "/activityTypes", 20),)
    paginated = False
    primary_keys = ("id",)
