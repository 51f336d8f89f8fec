"""Simulated cell: `ros2 launch robostral_ros sim.launch.py [record:=true]` (same graph as `robostral up --sim`)."""

from robostral.ros.launch_description import describe


def generate_launch_description():
    return describe("sim")
