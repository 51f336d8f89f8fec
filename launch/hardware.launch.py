"""Real cell: `ros2 launch robostral_ros hardware.launch.py` next to the arm's ros2_control bring-up
(same graph as `robostral up --hardware`)."""

from pathlib import Path

from robostral.ros.launch_description import describe


def generate_launch_description():
    return describe("hardware", Path(__file__).parent)  # graph.yaml next to this file
