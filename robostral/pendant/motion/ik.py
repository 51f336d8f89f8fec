"""The tool's pose and inverse kinematics for jogging and straight-line moves, from the safety FK.

``robostral.safety.kinematics`` gives the tool point; three tool points (at the tool offset and a
``AXIS`` step along the tool link's x and y axes) give the tool frame's orientation too. The
Jacobian is taken by finite differences and inverted by damped least squares, which stays well
behaved near singularities and, for a redundant arm (the Panda), takes the smallest joint motion.
Positions are metres in the robot base frame, rotations 3x3 matrices, joints radians.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from robots import ToolKinematics

AXIS = 0.1  # m: the spacing of the tool points that give the orientation
DIFFERENCE = 1e-6  # rad: the finite-difference step of the Jacobian


class Unreachable(ValueError):
    """No joint positions within the limits put the tool where it was asked to go."""


@dataclasses.dataclass(frozen=True)
class IkConfig:
    damping: float = 0.02  # damped least squares' lambda (m, or rad of orientation error)
    position_tolerance: float = 1e-4  # m
    rotation_tolerance: float = 1e-3  # rad
    iterations: int = 100
    max_step: float = 0.2  # rad: largest joint change of one iteration
    max_jump: float = 0.25  # rad: largest joint change between two samples of a straight line


class ToolFrame:
    """The tool frame (position and orientation) of arm joint positions, and its Jacobian."""

    def __init__(self, kinematics: ToolKinematics, lower: np.ndarray, upper: np.ndarray,
                 config: IkConfig = IkConfig()) -> None:
        offset = np.asarray(kinematics.offset)
        self.points = [dataclasses.replace(kinematics, offset=tuple(offset + shift))
                       for shift in (np.zeros(3), AXIS * np.eye(3)[0], AXIS * np.eye(3)[1])]
        self.lower, self.upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        self.config = config

    @property
    def joints(self) -> int:
        return len(self.lower)

    def pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool positions (n, 3) and rotations (n, 3, 3) of joint positions (n, joints); (3,) and (3, 3) for one."""
        q = np.asarray(q, dtype=np.float64)
        origin, along_x, along_y = (kinematics.tool_points(q) for kinematics in self.points)
        x = (along_x - origin) / AXIS
        y = (along_y - origin) / AXIS
        rotation = np.stack([x, y, np.cross(x, y)], axis=-1)
        return (origin[0], rotation[0]) if q.ndim == 1 else (origin, rotation)

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """(6, joints): tool linear velocity (m/rad) over angular velocity (rad/rad) per joint."""
        q = np.asarray(q, dtype=np.float64)
        p, r = self.pose(q)
        ps, rs = self.pose(q + DIFFERENCE * np.eye(len(q)))
        linear = (ps - p) / DIFFERENCE
        angular = np.array([rotation_error(rotated, r) for rotated in rs]) / DIFFERENCE
        return np.vstack([linear.T, angular.T])

    def solve(self, seed: np.ndarray, position: np.ndarray, rotation: np.ndarray | None = None) -> np.ndarray:
        """Joint positions near ``seed`` that put the tool at ``position`` (and ``rotation``, when given)."""
        config = self.config
        q = np.clip(np.asarray(seed, dtype=np.float64), self.lower, self.upper)
        rows = slice(0, 6 if rotation is not None else 3)
        for _ in range(config.iterations):
            p, r = self.pose(q)
            error = np.concatenate([position - p, rotation_error(rotation, r) if rotation is not None else []])
            if (np.linalg.norm(error[:3]) < config.position_tolerance
                    and np.linalg.norm(error[3:]) < config.rotation_tolerance):
                return q
            jacobian = self.jacobian(q)[rows]
            step = damped_least_squares(jacobian, error, config.damping)
            q = np.clip(q + step * min(1.0, config.max_step / max(np.abs(step).max(), 1e-12)), self.lower, self.upper)
        where = ", ".join(f"{v:.3f}" for v in position)
        raise Unreachable(f"no joint positions within the limits put the tool at ({where}) m with this orientation")

    def line(self, start: np.ndarray, end: np.ndarray, step: float) -> np.ndarray:
        """Joint positions (n, joints) every ``step`` m (at most) of a straight tool line from ``start`` to ``end``.

        The orientation turns evenly from the start's to the end's; the last row is ``end`` itself.
        Unreachable where a sample is, or where the arm would have to jump to another configuration.
        """
        start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
        (p0, r0), (p1, r1) = self.pose(start), self.pose(end)
        turn = rotation_vector(r0.T @ r1)
        count = max(1, int(np.ceil(max(np.linalg.norm(p1 - p0) / step, np.linalg.norm(turn) / (step * 10)))))
        rows, q = [], start
        for i in range(1, count + 1):
            s = i / count
            seed = q + (end - q) / (count - i + 1)  # the rest spread evenly: keeps the posture
            target = end if i == count else self.solve(seed, p0 + s * (p1 - p0), r0 @ rotation_matrix(s * turn))
            if np.abs(target - q).max() > self.config.max_jump:
                raise Unreachable("no straight tool line between these poses: the arm would have to change "
                                  "configuration on the way (use a joint move)")
            rows.append(target)
            q = target
        return np.array(rows)


def damped_least_squares(jacobian: np.ndarray, error: np.ndarray, damping: float) -> np.ndarray:
    """The joint step J^T (J J^T + damping^2 I)^-1 error."""
    gram = jacobian @ jacobian.T + damping**2 * np.eye(len(jacobian))
    return jacobian.T @ np.linalg.solve(gram, error)


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The small rotation (rad, base frame) that takes ``current`` towards ``target``."""
    return 0.5 * np.sum(np.cross(current.T, target.T), axis=0)


def rotation_vector(rotation: np.ndarray) -> np.ndarray:
    """The axis times the angle (rad) of a rotation matrix."""
    angle = np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    if angle < 1e-9:
        return 0.5 * axis
    if np.pi - angle < 1e-6:  # a half turn: the axis from the symmetric part
        column = np.argmax(np.diag(rotation))
        axis = (rotation[:, column] + np.eye(3)[column]) / np.sqrt(2.0 * (1.0 + rotation[column, column]))
        return angle * axis
    return angle * axis / (2.0 * np.sin(angle))


def rotation_matrix(vector: np.ndarray) -> np.ndarray:
    """The rotation by ``|vector|`` rad about ``vector`` (Rodrigues' formula)."""
    angle = np.linalg.norm(vector)
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = vector / angle
    skew = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def quaternion(rotation: np.ndarray) -> np.ndarray:
    """The unit quaternion (qx, qy, qz, qw), qw >= 0, of a rotation matrix."""
    vector = rotation_vector(rotation)
    angle = np.linalg.norm(vector)
    axis = vector / angle if angle > 1e-12 else np.zeros(3)
    return np.append(np.sin(angle / 2.0) * axis, np.cos(angle / 2.0))
