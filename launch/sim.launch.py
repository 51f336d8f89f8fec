"""Simulated cell: `ros2 launch robostral_ros sim.launch.py [record:=true]` (same graph as `robostral up --sim`)."""

from pathlib import Path

from robostral.ros.launch_description import describe


def generate_launch_description():
    return describe("sim", Path(__file__).parent)  # graph.yaml next to this file
