"""The import contracts of pyproject.toml (`lint-imports` in `make test`) hold, and they catch what they forbid.

A contract that cannot fail checks nothing: each is broken on purpose in a copy of the tree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break."""
    for package in ("robostral", "sim", "robots"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_its_import_contracts(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers(tree):
    with (tree / "robostral/data/writer.py").open("a") as handle:
        handle.write("\nimport robostral.ros.contract  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "Layers along the data path BROKEN" in result.stdout
    assert "robostral.data.writer -> robostral.ros.contract" in result.stdout


def test_a_cycle_between_two_modules_of_a_package_breaks_the_acyclic_contract(tree):
    (tree / "robostral/data/first.py").write_text("import robostral.data.second  # noqa\n")
    (tree / "robostral/data/second.py").write_text("import robostral.data.first  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "No import cycles between the modules of any package BROKEN" in result.stdout


@pytest.mark.parametrize("module,line", [
    ("robostral/safety/stop.py", "import pybullet  # noqa"),  # directly
    ("robostral/pendant/motion/planner.py", "import sim.robot  # noqa"),  # through the simulator's arm
    ("robots/gripper.py", "from sim.camera import Camera  # noqa"),  # the renderer
])
def test_a_cell_module_that_would_load_the_physics_engine_breaks_the_forbidden_contract(tree, module, line):
    with (tree / module).open("a") as handle:
        handle.write(f"\n{line}\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "What runs on a cell never loads the physics engine BROKEN" in result.stdout
