"""A position-controlled arm with a gripper in the simulator, as its description (``robots``) says.

Joint positions are radians (revolute) or metres (prismatic); the tool point is
in the world frame, metres. A new arm is a description file, not code.
"""

from __future__ import annotations

import numpy as np
import pybullet

from robots import RobotDescription
from sim.lite_urdf import render_light_urdf
from sim.simulation import Simulation

# The tool points straight down (tool z along world -z), the grasp pose for every task.
DOWN = (1.0, 0.0, 0.0, 0.0)


class Robot:
    """One arm loaded in a ``Simulation``: reads state, follows joint-position targets."""

    def __init__(self, sim: Simulation, description: RobotDescription) -> None:
        self.sim = sim
        self.description = description
        self.name = description.name
        self.gripper = description.gripper
        self.body = sim.load_urdf("robot", render_light_urdf(description.urdf), description.base_position)
        client = sim.client
        by_name = {}
        link_by_name = {}
        for index in range(client.getNumJoints(self.body)):
            info = client.getJointInfo(self.body, index)
            by_name[info[1].decode()] = info
            link_by_name[info[12].decode()] = index
        self.arm_indices = [by_name[j][0] for j in description.arm_joints]
        self.gripper_indices = [by_name[j][0] for j in self.gripper.joints]
        self.tool_index = link_by_name[description.tool_link]
        self.lower = np.array([joint.lower for joint in description.joints])
        self.upper = np.array([joint.upper for joint in description.joints])
        self.max_force = np.array([by_name[name][10] for name in description.joint_names])  # the URDF's efforts
        self.max_velocity = np.array([joint.velocity for joint in description.joints])
        self.home = description.home_positions
        for link in range(-1, client.getNumJoints(self.body)):
            client.changeDynamics(self.body, link, linearDamping=0.0, angularDamping=0.0)
        for index in self.gripper_indices:
            client.changeDynamics(self.body, index, lateralFriction=self.gripper.friction, spinningFriction=0.01)

    @property
    def joint_names(self) -> list[str]:
        """Arm joints then the gripper's driving joint: the order of actions and proprio."""
        return list(self.description.joint_names)

    @property
    def action_size(self) -> int:
        return len(self.description.joint_names)

    # -- commands -----------------------------------------------------------------
    def reset(self, positions: np.ndarray | None = None) -> None:
        """Teleport to ``positions`` (default: home) at rest and hold there."""
        positions = self.home if positions is None else positions
        client = self.sim.client
        for index, q in zip(self.arm_indices, positions[:-1]):
            client.resetJointState(self.body, index, q, 0.0)
        for index in self.gripper_indices:  # every gripper joint mimics the driving one 1:1
            client.resetJointState(self.body, index, positions[-1], 0.0)
        self.command(positions)

    def command(self, targets: np.ndarray) -> None:
        """Send joint-position targets (arm + gripper) to the motors."""
        client = self.sim.client
        indices = self.arm_indices + self.gripper_indices
        positions = list(targets[:-1]) + [targets[-1]] * len(self.gripper_indices)
        forces = list(self.max_force[:-1]) + [self.max_force[-1]] * len(self.gripper_indices)
        client.setJointMotorControlArray(
            self.body, indices, pybullet.POSITION_CONTROL, targetPositions=positions, forces=forces
        )

    def set_joint_damping(self, damping: float) -> None:
        for index in self.arm_indices:
            self.sim.client.changeDynamics(self.body, index, jointDamping=damping)

    # -- state ------------------------------------------------------------------
    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions, velocities) of the arm joints then the gripper's driving joint, from one query."""
        states = self.sim.client.getJointStates(self.body, self.arm_indices + self.gripper_indices[:1])
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions then the gripper's driving joint, in joint units."""
        return self.joint_state()[0]

    def joint_velocities(self) -> np.ndarray:
        return self.joint_state()[1]

    def gripper_closedness(self) -> float:
        """0 when fully open, 1 when fully closed, whatever the gripper's joint units."""
        return float(self.gripper.closedness(self.joint_positions()[-1]))

    def tool_position(self) -> np.ndarray:
        """Tool point in the world frame (metres)."""
        state = self.sim.client.getLinkState(self.body, self.tool_index, computeForwardKinematics=True)
        return _apply_offset(self.sim.client, state[4], state[5], self.description.tool_offset)

    def touches(self, body_name: str) -> bool:
        return self.sim.in_contact("robot", body_name)

    # -- kinematics ---------------------------------------------------------------
    def inverse_kinematics(self, position: np.ndarray, yaw: float = 0.0) -> np.ndarray:
        """Arm joint positions that put the tool point at ``position``, pointing down, jaws at ``yaw``.

        Seeded from the current joint state (pybullet's ``currentPositions`` argument
        biases the Panda's solution by 5 cm, so it is not used).
        """
        client = self.sim.client
        orientation = client.multiplyTransforms(
            [0, 0, 0], DOWN, [0, 0, 0], client.getQuaternionFromEuler([0, 0, -yaw])
        )[1]
        link_target = _apply_offset(client, position, orientation, -np.array(self.description.tool_offset))
        solution = client.calculateInverseKinematics(
            self.body,
            self.tool_index,
            link_target,
            orientation,
            maxNumIterations=100,
            residualThreshold=1e-5,
        )
        return np.clip(solution[: len(self.arm_indices)], self.lower[:-1], self.upper[:-1])


def _apply_offset(client, position, orientation, offset) -> np.ndarray:
    """A point at ``offset`` in a frame at (position, orientation), in the world frame."""
    rotated = np.array(client.getMatrixFromQuaternion(orientation)).reshape(3, 3) @ np.asarray(offset)
    return np.asarray(position) + rotated
