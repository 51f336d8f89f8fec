"""A position-controlled arm with a gripper, described by a small ``RobotSpec``.

Joint positions are radians (revolute) or metres (prismatic); the tool point is
in the world frame, metres. A new arm is one file that defines a ``RobotSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet
import pybullet_data

from sim.lite_urdf import render_light_urdf
from sim.simulation import Simulation

# The tool points straight down (tool z along world -z), the grasp pose for every task.
DOWN = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class RobotSpec:
    """What differs between arms; everything else (limits, masses) is read from the model."""

    name: str
    urdf: str  # relative to pybullet_data
    arm_joints: tuple[str, ...]
    gripper_joints: tuple[str, ...]  # driven together from one command, each following it 1:1
    gripper_open: float  # joint units of the first gripper joint
    gripper_closed: float
    tool_link: str
    home: tuple[float, ...]
    tool_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # tool point in the tool link frame
    base_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    finger_friction: float = 1.5


class Robot:
    """One arm loaded in a ``Simulation``: reads state, follows joint-position targets."""

    def __init__(self, sim: Simulation, spec: RobotSpec) -> None:
        self.sim = sim
        self.spec = spec
        self.name = spec.name
        self.body = sim.load_urdf(
            "robot", render_light_urdf(f"{pybullet_data.getDataPath()}/{spec.urdf}"), spec.base_position
        )
        client = sim.client
        by_name = {}
        link_by_name = {}
        for index in range(client.getNumJoints(self.body)):
            info = client.getJointInfo(self.body, index)
            by_name[info[1].decode()] = info
            link_by_name[info[12].decode()] = index
        self.arm_indices = [by_name[j][0] for j in spec.arm_joints]
        self.gripper_indices = [by_name[j][0] for j in spec.gripper_joints]
        self.tool_index = link_by_name[spec.tool_link]
        self.finger_links = [by_name[j][0] for j in spec.gripper_joints]
        joints = [by_name[j] for j in spec.arm_joints] + [by_name[spec.gripper_joints[0]]]
        self.lower = np.array([j[8] for j in joints])
        self.upper = np.array([j[9] for j in joints])
        self.max_force = np.array([j[10] for j in joints])
        self.max_velocity = np.array([j[11] for j in joints])
        self.home = np.array(list(spec.home) + [spec.gripper_open])
        for link in range(-1, client.getNumJoints(self.body)):
            client.changeDynamics(self.body, link, linearDamping=0.0, angularDamping=0.0)
        for index in self.gripper_indices:
            client.changeDynamics(self.body, index, lateralFriction=spec.finger_friction, spinningFriction=0.01)

    @property
    def joint_names(self) -> list[str]:
        """Arm joints then the gripper's driving joint: the order of actions and proprio."""
        return list(self.spec.arm_joints) + [self.spec.gripper_joints[0]]

    @property
    def action_size(self) -> int:
        return len(self.spec.arm_joints) + 1

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
        q = self.joint_positions()[-1]
        return float((q - self.spec.gripper_open) / (self.spec.gripper_closed - self.spec.gripper_open))

    def tool_position(self) -> np.ndarray:
        """Tool point in the world frame (metres)."""
        state = self.sim.client.getLinkState(self.body, self.tool_index, computeForwardKinematics=True)
        return _apply_offset(self.sim.client, state[4], state[5], self.spec.tool_offset)

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
        link_target = _apply_offset(client, position, orientation, -np.array(self.spec.tool_offset))
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
