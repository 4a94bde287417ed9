"""What `pip install .` installs is enough to run every part of the package (issue 14: a fresh
clone passes the README's commands): every third-party module the package imports comes from a
distribution listed in pyproject's dependencies."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _distribution(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_third_party_module_is_a_declared_dependency():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {_canonical(_distribution(r)) for r in config["project"]["dependencies"]}
    folders = set(config["tool"]["setuptools"]["package-dir"].values())
    imported: dict[str, str] = {}
    for folder in sorted(folders):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    imported.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    third_party = {m: where for m, where in imported.items()
                   if m not in sys.stdlib_module_names and m != "shapelang"}
    assert "rich" in third_party and "ply" in third_party     # the scan sees the package
    providers = importlib.metadata.packages_distributions()
    undeclared = {m: where for m, where in third_party.items()
                  if not declared & {_canonical(d) for d in providers.get(m, [m])}}
    assert undeclared == {}
