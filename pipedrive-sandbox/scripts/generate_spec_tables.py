"""Generate ``pipedrive_sandbox/spec_tables.py`` from Pipedrive's vendored OpenAPI specs.

The sandbox does not parse the 2.8 MB of YAML at start-up: this script distils what the server
needs (the ``x-token-cost`` and OAuth scopes of every operation, and the query parameters of the
operations it serves) into a small Python module. ``pipedrive-sandbox/tests/test_spec_tables.py``
re-runs the distillation and fails when the module and the specs disagree.

Usage: python pipedrive-sandbox/scripts/generate_spec_tables.py [SPEC_DIR] > .../spec_tables.py
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).resolve().parents[2] / "spec" / "pipedrive-openapi"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# The GET operations whose query parameters the sandbox validates, per API version.
SERVED_GETS: dict[str, tuple[str, ...]] = {
    "v2": (
        "/persons",
        "/organizations",
        "/deals",
        "/deals/archived",
        "/activities",
        "/personFields",
        "/organizationFields",
        "/dealFields",
        "/activityFields",
        "/pipelines",
        "/stages",
        "/persons/{id}",
        "/organizations/{id}",
        "/deals/{id}",
        "/activities/{id}",
        "/persons/search",
        "/leads/{id}/convert/status/{conversion_id}",
    ),
    "v1": (
        "/notes",
        "/notes/{id}",
        "/noteFields",
        "/users",
        "/users/me",
        "/activityTypes",
        "/activityFields",
        "/recents",
        "/persons/{id}/changelog",
        "/deals/{id}/changelog",
        "/leads",
        "/leads/archived",
        "/leads/{id}",
    ),
}


# The write operations whose JSON bodies the sandbox validates: (version, METHOD, path).
SERVED_WRITES: tuple[tuple[str, str, str], ...] = (
    ("v2", "POST", "/persons"),
    ("v2", "PATCH", "/persons/{id}"),
    ("v2", "POST", "/organizations"),
    ("v2", "PATCH", "/organizations/{id}"),
    ("v2", "POST", "/deals"),
    ("v2", "PATCH", "/deals/{id}"),
    ("v2", "POST", "/activities"),
    ("v2", "PATCH", "/activities/{id}"),
    ("v1", "POST", "/notes"),
    ("v1", "PUT", "/notes/{id}"),
    ("v1", "POST", "/leads"),
    ("v1", "PATCH", "/leads/{id}"),
    ("v2", "POST", "/leads/{id}/convert/deal"),
)


def load_spec(spec_dir: Path, version: str) -> dict[str, Any]:
    """Parse one vendored spec file (``v1.yaml`` or ``v2.yaml``)."""
    with (spec_dir / f"{version}.yaml").open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def token_costs(specs: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    """``(version, METHOD, path template) -> x-token-cost`` for every operation of both specs."""
    costs: dict[tuple[str, str, str], int] = {}
    for version, spec in specs.items():
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if method in HTTP_METHODS and "x-token-cost" in operation:
                    costs[(version, method.upper(), path)] = int(operation["x-token-cost"])
    return dict(sorted(costs.items()))


def oauth_scopes(specs: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """``(version, METHOD, path template) -> OAuth scopes``, any one of which allows the call
    (the operation's ``security`` entry ``oauth2``), for every operation of both specs."""
    scopes: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for version, spec in specs.items():
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                if method not in HTTP_METHODS:
                    continue
                for requirement in operation.get("security") or []:
                    if "oauth2" in requirement:
                        scopes[(version, method.upper(), path)] = tuple(requirement["oauth2"])
    return dict(sorted(scopes.items()))


def _param_spec(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = parameter.get("schema", {})
    spec: dict[str, Any] = {"type": schema.get("type", "string")}
    for key in ("enum", "format", "default"):
        if key in schema:
            spec[key] = schema[key]
    if parameter.get("required"):
        spec["required"] = True
    return spec


def query_parameters(
    specs: dict[str, dict[str, Any]],
) -> dict[tuple[str, str], dict[str, Any]]:
    """``(version, path template) -> {"operation_id", "params": {name: spec}}`` for served GETs."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for version, paths in SERVED_GETS.items():
        for path in paths:
            operation = specs[version]["paths"][path]["get"]
            params = {
                p["name"]: _param_spec(p)
                for p in operation.get("parameters", [])
                if p.get("in") == "query"
            }
            table[(version, path)] = {"operation_id": operation["operationId"], "params": params}
    return table


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _body_properties(
    spec: dict[str, Any], schema: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    schema = _resolve(spec, schema)
    properties: dict[str, Any] = {}
    required = list(schema.get("required", []))
    for part in schema.get("allOf", []):
        sub_properties, sub_required = _body_properties(spec, part)
        properties |= sub_properties
        required += sub_required
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(spec, raw)
        entry: dict[str, Any] = {
            "type": prop.get("type", "object" if "properties" in prop else "any")
        }
        for key in ("enum", "format", "nullable"):
            if key in prop:
                entry[key] = prop[key]
        properties[name] = entry
    return properties, required


def request_bodies(specs: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(version, METHOD, path) -> {"fields": {name: spec}, "required": [...]}`` for writes."""
    table: dict[tuple[str, str, str], dict[str, Any]] = {}
    for version, method, path in SERVED_WRITES:
        operation = specs[version]["paths"][path][method.lower()]
        content = operation["requestBody"]["content"]["application/json"]["schema"]
        properties, required = _body_properties(specs[version], content)
        table[(version, method, path)] = {"fields": properties, "required": sorted(set(required))}
    return table


def render(spec_dir: Path) -> str:
    """The full text of ``spec_tables.py``."""
    specs = {version: load_spec(spec_dir, version) for version in ("v1", "v2")}
    costs = pprint.pformat(token_costs(specs), width=100, sort_dicts=False)
    scopes = pprint.pformat(oauth_scopes(specs), width=100, sort_dicts=False)
    params = pprint.pformat(query_parameters(specs), width=100, sort_dicts=False)
    bodies = pprint.pformat(request_bodies(specs), width=100, sort_dicts=False)
    return (
        '"""Tables distilled from spec/pipedrive-openapi/*.yaml. GENERATED: do not edit.\n\n'
        "Regenerate with ``python pipedrive-sandbox/scripts/generate_spec_tables.py``.\n"
        '"""\n\n'
        "from typing import Any\n\n"
        "# (api version, HTTP method, path template) -> x-token-cost\n"
        f"TOKEN_COSTS: dict[tuple[str, str, str], int] = {costs}\n\n"
        "# (api version, HTTP method, path template) -> OAuth scopes, any one of which allows it\n"
        f"OAUTH_SCOPES: dict[tuple[str, str, str], tuple[str, ...]] = {scopes}\n\n"
        "# (api version, path template) -> operationId and query parameters of served GETs\n"
        f"QUERY_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {params}\n\n"
        "# (api version, HTTP method, path template) -> JSON body fields of served writes\n"
        f"REQUEST_BODIES: dict[tuple[str, str, str], dict[str, Any]] = {bodies}\n"
    )


def main() -> None:
    """Print the generated module to stdout."""
    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else SPEC_DIR
    sys.stdout.write(render(spec_dir))


if __name__ == "__main__":
    main()
