"""ros_ws/: `colcon build` (colcon from PyPI) installs the robostral_ros ament_python package.

What `ros2 run` needs is checked the way ros2 run finds it: the package in the ament
index of AMENT_PREFIX_PATH (after sourcing the install's local_setup.bash), its
executables under lib/robostral_ros/. `ros2 launch` itself cannot run here: ROS 2's
launch and launch_ros are not on PyPI; the installed graph.yaml, which the launch files
read, is checked against the graph `robostral up` starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robostral.ros.graph import LAUNCH_DIR, load_graph

REPO = Path(__file__).resolve().parents[1]
ROS_WS = REPO / "ros_ws"
PACKAGE = "robostral_ros"
GRAPHS = ("sim", "hardware")
VENV_BIN = Path(sys.executable).parent


def colcon_build(root: Path, *extra: str) -> Path:
    """`colcon build` of ros_ws/ with build, install and log under ``root``; the install prefix."""
    colcon = VENV_BIN / "colcon"
    assert colcon.exists(), f"{colcon} missing: pip install -r requirements-dev.txt"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLCON_HOME": str(root / "colcon_home")}
    for name in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH", "PYTHONPATH"):
        env.pop(name, None)
    result = subprocess.run(
        [str(colcon), "--log-base", str(root / "log"), "build", "--base-paths", str(ROS_WS),
         "--build-base", str(root / "build"), "--install-base", str(root / "install"), *extra],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 package finished" in result.stdout, result.stdout
    return root / "install"


def sourced_env(install: Path) -> dict[str, str]:
    """The environment after `source install/local_setup.bash`."""
    out = subprocess.run(["bash", "-c", f'source "{install}/local_setup.bash" && env -0'],
                         env={k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"},
                         capture_output=True, check=True, timeout=30).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def executables() -> dict[str, str]:
    """Every executable the launch graphs start -> its robostral.ros module."""
    return {n.executable: n.module for g in GRAPHS for n in load_graph(g).nodes}


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    return colcon_build(tmp_path_factory.mktemp("colcon"))


def test_installs_manifest_index_marker_launch_and_params(install):
    share = install / PACKAGE / "share"
    assert (share / "ament_index/resource_index/packages" / PACKAGE).is_file()
    assert (share / PACKAGE / "package.xml").read_text() == (ROS_WS / "src" / PACKAGE / "package.xml").read_text()
    for rel in ("sim.launch.py", "hardware.launch.py", "graph.yaml", "params/sim.yaml", "params/hardware.yaml"):
        assert (share / PACKAGE / "launch" / rel).read_bytes() == (LAUNCH_DIR / rel).read_bytes(), rel


def test_ros2_run_finds_every_executable_and_it_runs_the_node_main(install):
    env = sourced_env(install)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    # ros2 run: the prefix on AMENT_PREFIX_PATH whose ament index lists the package, then lib/<package>/<exe>
    prefixes = [Path(p) for p in env["AMENT_PREFIX_PATH"].split(os.pathsep)]
    prefix = next(p for p in prefixes if (p / "share/ament_index/resource_index/packages" / PACKAGE).is_file())
    for exe, module in executables().items():
        path = prefix / "lib" / PACKAGE / exe
        assert path.is_file() and os.access(path, os.X_OK), path
        # an unknown ROS argument: the node's main() hands argv to rclpy.init, which refuses it
        # (no node, no DDS traffic); the traceback shows which module's main() ran
        result = subprocess.run([str(path), "--ros-args", "--robostral-bogus"], env=env, cwd=install,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, exe
        assert "UnknownROSArgsError" in result.stderr, result.stderr
        assert f"robostral{os.sep}ros{os.sep}{module}.py" in result.stderr, result.stderr


@pytest.mark.parametrize("name", GRAPHS)
def test_installed_graph_is_the_graph_robostral_up_starts(install, name):
    """The installed launch files call describe(name, <their folder>): that graph.yaml and params."""
    installed = load_graph(name, install / PACKAGE / "share" / PACKAGE / "launch" / "graph.yaml")
    repo = load_graph(name)  # what `robostral up` reads
    assert installed.nodes == repo.nodes
    assert installed.parameters.read_bytes() == repo.parameters.read_bytes()


def test_symlink_install_links_the_one_copy_in_launch(tmp_path):
    launch = colcon_build(tmp_path, "--symlink-install") / PACKAGE / "share" / PACKAGE / "launch"
    for rel in ("sim.launch.py", "graph.yaml", "params/sim.yaml"):
        assert (launch / rel).is_symlink() and (launch / rel).resolve() == (LAUNCH_DIR / rel).resolve(), rel
    assert load_graph("sim", launch / "graph.yaml").parameters == (LAUNCH_DIR / "params/sim.yaml").resolve()
