"""robostral_ros: exposes Robostral's nodes and launch files to `ros2 run` / `ros2 launch`.

The node code is the ``robostral`` package (``pip install <repo>``); this package only
installs entry points under lib/robostral_ros/ and the launch files. ``launch`` here is a
symlink to the repository's launch/ folder, so there is one copy of the launch and
parameter files. Paths are relative to this directory (colcon runs setup.py from it).
"""

from glob import glob
from pathlib import Path

import yaml
from setuptools import setup

PACKAGE = "robostral_ros"
# The node executables -> the robostral.ros module whose main() each runs: listed once, in launch/graph.yaml.
EXECUTABLES = yaml.safe_load(Path("launch/graph.yaml").read_text())["executables"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[],  # no Python code of its own
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # graph.yaml names its parameter files as params/<graph>.yaml: keep that layout
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py")) + ["launch/graph.yaml"]),
        (f"share/{PACKAGE}/launch/params", sorted(glob("launch/params/*.yaml"))),
    ],
    zip_safe=True,
    maintainer="Robostral",
    maintainer_email="robostral@example.com",
    description="Robostral's ROS 2 nodes and launch files for ros2 run / ros2 launch.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [f"{exe} = robostral.ros.{module}:main" for exe, module in EXECUTABLES.items()],
    },
)
