"""pyproject.toml declares what the code imports, and constraints.txt pins what the tests ran with."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

import pytest

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def name_of(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> set[str]:
    extras = [r for group in PYPROJECT["optional-dependencies"].values() for r in group]
    return {name_of(r) for r in [*PYPROJECT["dependencies"], *extras]}


def imported_top_level(folders: tuple[str, ...]) -> set[str]:
    names = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"lit_modules", "datamodules", "benchmarks", "benchmark"}


def test_every_imported_package_is_declared() -> None:
    distributions = packages_distributions()
    needed = {
        name_of(dist)
        for module in imported_top_level(("lit_modules", "datamodules", "scripts"))
        for dist in distributions.get(module, [module])
    }
    needed -= {"pytorch-lightning"}  # the same `lightning` package ships under both names
    assert needed <= declared(), f"imported but not declared in pyproject.toml: {sorted(needed - declared())}"


def test_the_tested_versions_are_pinned_and_installed_by_make() -> None:
    pins = dict(
        line.split("==") for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line
    )
    pinned = {name_of(name) for name in pins}
    assert declared() - {"torch-fidelity", "gdown"} <= pinned  # the extras the tests do not install
    assert "hello-lightning" not in pinned
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()
    assert re.match(r"2\.", pins["torch"]) and "torchvision>=0.21" in PYPROJECT["dependencies"]
