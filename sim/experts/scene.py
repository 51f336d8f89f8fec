"""Read-only questions about the scene that an expert asks to tell which phase it is in (``Expert.replan``).

They look at the simulator as it is now, whoever moved the arm: contacts between the jaws and a
cube, the gap between the jaws, the jaws' yaw. Positions are metres in the world frame, yaw radians.
"""

from __future__ import annotations

import numpy as np

from sim.robot import Robot
from sim.simulation import Simulation

OPPOSED = -0.5  # cosine below which two contact normals push from opposite sides


def pinched(sim: Simulation, robot: Robot, body: str) -> bool:
    """The robot squeezes ``body`` from two opposite sides: the jaws have closed on it and hold it.

    Contacts that carry no force (bodies just parting) do not count.
    """
    points = sim.client.getContactPoints(robot.body, sim.body(body))
    normals = np.array([point[7] for point in points if point[9] > 0.0]).reshape(-1, 3)
    return bool(len(normals) > 1 and (normals @ normals.T).min() < OPPOSED)


def jaw_gap(robot: Robot) -> float:
    """The gap between the pads (m), read from the gripper's drive joint."""
    return robot.gripper.width(robot.joint_positions()[-1])


def tool_yaw(sim: Simulation, robot: Robot) -> float:
    """The jaws' yaw (rad) about the world z axis, as ``Robot.inverse_kinematics`` takes it, tool pointing down."""
    orientation = sim.client.getLinkState(robot.body, robot.tool_index)[5]
    x_axis = np.array(sim.client.getMatrixFromQuaternion(orientation)).reshape(3, 3)[:, 0]
    return float(np.arctan2(x_axis[1], x_axis[0]))
