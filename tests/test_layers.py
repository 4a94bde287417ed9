"""The import contracts of pyproject.toml ([tool.importlinter]) hold: one-way layers from the
CLI down to the runtime, the VM never importing the reference evaluator, no import cycles.

import-linter finds modules by walking the root package's directory, but this repository maps
`shapelang.*` subpackages to top-level folders (pyproject's package-dir), so the check runs on a
copy of the sources laid out as the installed package is."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def package_tree(dest: Path) -> Path:
    """The Python sources of the project laid out as the `shapelang` package (installed form)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dirs = config["tool"]["setuptools"]["package-dir"]
    for package in config["tool"]["setuptools"]["packages"]:
        # a package without its own folder entry lives inside its parent's (shapelang.vm.store)
        parent, tail = package, []
        while parent not in dirs:
            parent, _, last = parent.rpartition(".")
            tail.insert(0, last)
        folder = ROOT / dirs[parent] / Path(*tail) if tail else ROOT / dirs[parent]
        target = dest.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            shutil.copy(source, target / source.name)
    return dest


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed (it is in the test extra: pip install -e '.[test]')")
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([exe, "--no-cache", str(ROOT / "pyproject.toml")], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)


def test_import_contracts_are_kept(tmp_path):
    r = lint_imports(package_tree(tmp_path))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in r.stdout, r.stdout


def test_the_contract_sees_every_package(tmp_path):
    """A contract checked on a partial tree would pass vacuously: every subpackage is there."""
    tree = package_tree(tmp_path)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for package in config["tool"]["setuptools"]["packages"]:
        assert tree.joinpath(*package.split("."), "__init__.py").exists(), package


def test_a_forbidden_import_breaks_the_contract(tmp_path):
    """The check has teeth: the VM importing the reference evaluator is reported."""
    tree = package_tree(tmp_path)
    machine = tree / "shapelang" / "vm" / "machine.py"
    machine.write_text(machine.read_text() + "\nfrom shapelang.ref import evaluator  # noqa\n")
    r = lint_imports(tree)
    assert r.returncode != 0
    assert "shapelang.vm.machine -> shapelang.ref.evaluator" in r.stdout, r.stdout
