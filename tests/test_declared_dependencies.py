"""Every third-party module a package imports is declared in that package's pyproject.toml.

A module that arrives only through another dependency (``backoff`` through singer-sdk) breaks
the day that dependency drops it or moves its bounds, and pip never says why. Imports are read
with ``ast`` from the package's own modules; import names are mapped to the distributions that
provide them with ``importlib.metadata.packages_distributions()`` (``sqlalchemy`` ->
``SQLAlchemy``, ``backoff`` -> ``python-backoff``), and, for the packages of this workspace
(installed editable, which that mapping does not list), with their own pyproject.toml.
Every workspace package is checked: each directory whose pyproject.toml names wheel packages.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pyproject(project_dir: Path) -> dict:
    return tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))


def wheel_packages(project_dir: Path) -> list[str]:
    """The import packages a project builds (``[tool.hatch.build.targets.wheel] packages``)."""
    hatch = _pyproject(project_dir).get("tool", {}).get("hatch", {})
    return hatch.get("build", {}).get("targets", {}).get("wheel", {}).get("packages", [])


def workspace_packages(root: Path) -> dict[str, Path]:
    """Import package -> the project directory building it, for every project under root."""
    return {
        package: pyproject.parent
        for pyproject in sorted(root.glob("*/pyproject.toml"))
        for package in wheel_packages(pyproject.parent)
    }


WORKSPACE = workspace_packages(ROOT)


def declared_distributions(project_dir: Path) -> set[str]:
    """Canonical names of the distributions in ``[project] dependencies``."""
    return {
        canonicalize_name(Requirement(spec).name)
        for spec in _pyproject(project_dir)["project"]["dependencies"]
    }


def top_level_imports(source: str) -> set[str]:
    """Top-level names of the absolute imports in a module (``a.b.c`` -> ``a``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def third_party_imports(package_dir: Path) -> dict[str, list[str]]:
    """Third-party top-level import -> the package's modules importing it (relative paths)."""
    importers: dict[str, list[str]] = {}
    for module in sorted(package_dir.rglob("*.py")):
        for name in top_level_imports(module.read_text(encoding="utf-8")):
            if name not in sys.stdlib_module_names and name != package_dir.name:
                importers.setdefault(name, []).append(str(module.relative_to(package_dir.parent)))
    return importers


@cache
def distributions_of(import_name: str) -> set[str]:
    """Canonical names of the distributions providing a top-level import: installed ones, and
    the workspace project building it."""
    names = set(packages_distributions().get(import_name, []))
    if import_name in WORKSPACE:
        names.add(_pyproject(WORKSPACE[import_name])["project"]["name"])
    return {canonicalize_name(name) for name in names}


def undeclared_imports(project_dir: Path, package: str) -> list[str]:
    """One line per third-party import of the package that its pyproject does not declare."""
    declared = declared_distributions(project_dir)
    problems = []
    for name, modules in sorted(third_party_imports(project_dir / package).items()):
        providers = distributions_of(name)
        if not providers & declared:
            provided_by = ", ".join(sorted(providers)) or "no installed distribution"
            problems.append(
                f"{project_dir.name}: '{name}' (imported by {', '.join(modules)}; provided by "
                f"{provided_by}) is not in pyproject.toml dependencies: declare it"
            )
    return problems


def test_the_workspace_packages_are_found() -> None:
    assert {"tap_pipedrive", "target_cdp", "pipedrive_sandbox", "tap_cdp"} <= WORKSPACE.keys()


@pytest.mark.parametrize(
    ("project", "package"), [(path.name, package) for package, path in WORKSPACE.items()]
)
def test_every_third_party_import_is_declared(project: str, package: str) -> None:
    assert third_party_imports(ROOT / project / package), "the package was not read"
    assert undeclared_imports(ROOT / project, package) == []


def test_an_import_arriving_through_another_dependency_is_reported(tmp_path: Path) -> None:
    """The check itself: requests is installed (a dependency of others) but not declared here;
    the standard library, the package itself and relative imports are not third-party."""
    project = tmp_path / "demo-project"
    (project / "demo_package").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\ndependencies = ["orjson>=3"]\n', encoding="utf-8"
    )
    (project / "demo_package" / "client.py").write_text(
        "from __future__ import annotations\n"
        "import json\n"
        "import orjson\n"
        "import requests.adapters\n"
        "from demo_package import other\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    module = str(Path("demo_package", "client.py"))
    assert third_party_imports(project / "demo_package") == {
        "orjson": [module],
        "requests": [module],
    }
    assert undeclared_imports(project, "demo_package") == [
        f"demo-project: 'requests' (imported by {module}; provided by requests) is not in "
        "pyproject.toml dependencies: declare it"
    ]
