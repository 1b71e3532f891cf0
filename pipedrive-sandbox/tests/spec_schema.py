"""Response schemas of the vendored Pipedrive specs as strict JSON Schemas.

OpenAPI 3.0 schema objects become JSON Schema: ``$ref``s resolved, ``allOf`` object parts merged
into one object, ``nullable: true`` turned into "or null", and every object that declares
``properties`` closed with ``additionalProperties: false`` unless the spec says otherwise — so
a field the spec does not declare for an endpoint fails validation. What the spec leaves out
but Pipedrive really does is added back explicitly from ``spec_allowances.py``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

SPEC_DIR = Path(__file__).resolve().parents[2] / "spec" / "pipedrive-openapi"
CUSTOM_KEY_PATTERN = r"^[0-9a-f]{40}(_[a-z_0-9]+)?$"


@functools.cache
def load_spec(version: str) -> dict[str, Any]:
    """One vendored spec (``v1`` or ``v2``), parsed once per test session."""
    with (SPEC_DIR / f"{version}.yaml").open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def response_schema(version: str, method: str, path: str, status: str = "200") -> dict[str, Any]:
    """The raw OpenAPI schema of one operation's JSON response."""
    spec = load_spec(version)
    operation = spec["paths"][path][method.lower()]
    return operation["responses"][status]["content"]["application/json"]["schema"]


class Converter:
    """OpenAPI 3.0 schema -> closed JSON Schema, with per-path allowances."""

    def __init__(
        self,
        version: str,
        *,
        nullable: set[str] | frozenset[str] = frozenset(),
        extra: dict[str, dict[str, Any]] | None = None,
        custom_key_objects: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.spec = load_spec(version)
        self.nullable = nullable
        self.extra = extra or {}
        self.custom_key_objects = custom_key_objects

    def _merge(self, node: dict[str, Any]) -> dict[str, Any]:
        """Flatten ``allOf`` parts (and the node's own keywords) into one schema."""
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for raw in node.get("allOf", []):
            part = self._merge(_resolve(self.spec, raw))
            merged.setdefault("properties", {}).update(part.get("properties", {}))
            if "required" in part:
                merged["required"] = sorted({*merged.get("required", []), *part["required"]})
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if "properties" in merged:
            merged.setdefault("type", "object")
        return merged

    def convert(self, node: Any, path: str = "") -> dict[str, Any]:
        """Convert a schema node found at ``path`` (``data[].org_id`` style)."""
        node = self._merge(_resolve(self.spec, node))
        out: dict[str, Any] = {}
        if "type" in node:
            out["type"] = node["type"]
        if "enum" in node:
            out["enum"] = list(node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                out[key] = [self.convert(sub, path) for sub in node[key]]
        if "items" in node:
            out["items"] = self.convert(node["items"], f"{path}[]")
        if "properties" in node or path in self.extra:
            declared = {**node.get("properties", {}), **self.extra.get(path, {})}
            properties = {
                name: self.convert(sub, f"{path}.{name}".lstrip("."))
                for name, sub in declared.items()
            }
            out["properties"] = properties
            additional = node.get("additionalProperties", False)
            if isinstance(additional, dict):
                additional = self.convert(additional, f"{path}.*")
            out["additionalProperties"] = additional
            if path in self.custom_key_objects:
                out["patternProperties"] = {CUSTOM_KEY_PATTERN: {}}
        elif "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
            out["additionalProperties"] = self.convert(node["additionalProperties"], f"{path}.*")
        if node.get("nullable") or path in self.nullable:
            return {"anyOf": [out, {"type": "null"}]}
        return out


def validator(schema: dict[str, Any]) -> Draft7Validator:
    """A JSON Schema validator (formats are not asserted here; behaviour tests check them)."""
    return Draft7Validator(schema)


def problems(check: Draft7Validator, body: Any, endpoint: str) -> list[str]:
    """Readable failures naming the endpoint and the field path."""
    out = []
    for error in sorted(check.iter_errors(body), key=lambda e: list(e.absolute_path)):
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        out.append(f"{endpoint}: {field.lstrip('.') or '<body>'}: {error.message[:300]}")
    return out
