"""The envelope the supervisor enforces, applied by a command's source: clip a chunk so that it passes.

``check_trajectory`` rejects a target outside a joint's limits less ``SafetyConfig.position_margin``,
and a tool point outside ``SafetyConfig.workspace``, at a point or between points. A policy that
sends such a target has every command after it refused; ``clip_chunk`` brings its targets inside
first, from the same ``SafetyConfig`` the supervisor reads. Joint positions are radians (revolute)
or metres (prismatic), tool points metres in the robot base frame.
"""

from __future__ import annotations

import numpy as np

from robostral.safety.limits import JointLimits, SafetyConfig
from robots import ToolKinematics

# m: clipped tool points stay this far inside the workspace box, so that rounding, the curvature of the
# tool path between the supervisor's samples and its jerk-limited plan, which can pass a little outside
# the straight joint path between points (about 1 mm seen along the table), never take them over its border.
WORKSPACE_TOLERANCE = 5e-3
# Samples, in one forward-kinematics batch, of the sub-step (the supervisor's sampling step) in which a
# segment leaves the box: the last one inside is where its point goes, within 0.02 / 128 rad of the border.
REFINE = 128


def clip_chunk(
    current: np.ndarray,
    chunk: np.ndarray,
    *,
    limits: JointLimits,
    kinematics: ToolKinematics,
    config: SafetyConfig,
    tolerance: float = WORKSPACE_TOLERANCE,
) -> np.ndarray:
    """``chunk`` (K, joints in ``limits.names`` order) clipped into what ``check_trajectory`` accepts from ``current``.

    Each target goes into ``[limits.low, limits.high]``. Then, point by point, the arm's path (joint-space
    lines from ``current`` to point 0, point 0 to point 1, ...) is followed, sampled as the supervisor
    samples it (every ``config.sample_step`` of joint motion): where the tool point would leave the
    workspace box shrunk by ``tolerance``, the point is pulled back along its segment to the last position
    inside (to a ``REFINE``-th of the supervisor's sampling step), and the next segment starts there.
    Other joints (the gripper) keep their targets.

    A tool point that is not inside the shrunk box already (``current`` on the border or outside: an arm
    pressing a block along the table sags below its command) has to come in, or every command after
    would be refused. Point 0 is then the policy's target if it is inside the shrunk box, else that
    target moved toward ``home`` (joint space) until it is; where the supervisor checks the way there
    (from the border) and it leaves the box, point 0 is ``current`` moved toward ``home`` instead. The
    path goes on from there.
    """
    current = np.asarray(current, dtype=np.float64)
    chunk = np.asarray(chunk, dtype=np.float64)
    joints = len(limits.names)
    if current.shape != (joints,) or chunk.ndim != 2 or chunk.shape[1] != joints or not len(chunk):
        raise ValueError(f"expected current ({joints},) and a chunk (K >= 1, {joints}), got {current.shape}, "
                         f"{chunk.shape}")
    if not (np.isfinite(current).all() and np.isfinite(chunk).all()):
        raise ValueError("current positions and chunk must be finite")
    path = _ArmPath(limits, kinematics, config, tolerance)
    targets = np.clip(chunk, limits.low, limits.high)
    if path.clear_all(current, targets):  # the usual case, in one forward-kinematics batch
        return targets
    previous, clipped = current, []
    if not path.inside(current):
        first = targets[0] if path.inside(targets[0]) else path.toward_home(targets[0])
        if path.inside(current, path.outer) and not path.clear(current, first, path.outer):
            first = path.toward_home(current)  # the supervisor checks the way in from the border: the shortest
        previous, targets = first, targets[1:]
        clipped.append(previous)
    for target in targets:
        previous = path.reach(previous, target)
        clipped.append(previous)
    return np.array(clipped)


class _ArmPath:
    """Tool points along the arm's joint-space segments, sampled as the supervisor samples them."""

    def __init__(self, limits: JointLimits, kinematics: ToolKinematics, config: SafetyConfig, tolerance: float):
        box = config.workspace
        self.outer = (np.asarray(box.low), np.asarray(box.high))  # what the supervisor enforces
        self.inner = (self.outer[0] + tolerance, self.outer[1] - tolerance)  # where clipped points land
        if not (tolerance >= 0 and np.all(self.inner[0] < self.inner[1])):
            raise ValueError(f"tolerance {tolerance!r} m must be >= 0 and leave some of the workspace box")
        self.arm = [limits.names.index(name) for name in kinematics.joint_names]
        self.lowest, self.highest = limits.low, limits.high  # the commandable joint ranges
        self.kinematics = kinematics
        self.step = config.sample_step
        self.home = np.asarray(config.description.home, dtype=np.float64)  # inside the box: the way in

    def inside(self, positions: np.ndarray, box: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Whether the tool point of each configuration (..., joints) is in ``box`` (default: the inner one)."""
        low, high = self.inner if box is None else box
        positions = np.asarray(positions)
        points = self.kinematics.tool_points(positions[..., self.arm].reshape(-1, len(self.arm)))
        return np.all((points >= low) & (points <= high), axis=-1).reshape(positions.shape[:-1])

    def samples(self, start: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Fractions (0, 1] of the way from ``start`` to ``target`` at which the supervisor checks the tool point."""
        count = max(1, int(np.ceil(np.max(np.abs(target[self.arm] - start[self.arm])) / self.step)))
        return np.arange(1, count + 1) / count

    def clear_all(self, current: np.ndarray, targets: np.ndarray) -> bool:
        """Whether ``current`` and the whole way through ``targets`` (K, joints) are inside the inner box."""
        arm = np.vstack([current, targets])[:, self.arm]  # the samples of every segment at once: one batch
        deltas = np.diff(arm, axis=0)
        counts = np.maximum(1, np.ceil(np.max(np.abs(deltas), axis=1) / self.step)).astype(np.int64)
        segment = np.repeat(np.arange(len(counts)), counts)
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1  # 1..count per segment
        samples = arm[segment] + (k / counts[segment])[:, None] * deltas[segment]
        points = self.kinematics.tool_points(np.vstack([arm[:1], samples]))
        low, high = self.inner
        return bool(np.all((points >= low) & (points <= high)))

    def clear(self, start: np.ndarray, target: np.ndarray, box: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
        """Whether the tool point stays in ``box`` (default: the inner one) all the way from ``start`` to ``target``."""
        return bool(self.inside(self.at(start, target, self.samples(start, target)), box).all())

    def reach(self, start: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``target``, or the last configuration inside on the way there from ``start`` (inside): arm pulled back.

        Checked at the supervisor's samples, then ``REFINE`` times finer in the sub-step that leaves the box:
        the samples on the way to the point returned are then closer than the supervisor's step, and the tool
        path between two samples inside bends far less than the tolerance, so it stays in the box.
        A ``start`` outside the joint ranges (in the margin band) is left along the way: the configuration
        returned is never before the fraction where every joint is in range, even if the way leaves the box
        before that (a chunk the supervisor refuses, from an arm both in the margin band and on the border).
        """
        fractions = self.samples(start, target)
        outside = ~self.inside(self.at(start, target, fractions))
        if not outside.any():
            return target
        first = int(np.argmax(outside))
        low, high = (fractions[first - 1] if first else 0.0), fractions[first]  # inside at low, outside at high
        candidates = np.linspace(low, high, REFINE + 2)[:-1]
        inside = np.append(True, self.inside(self.at(start, target, candidates[1:])))
        last_inside = candidates[-1] if inside.all() else candidates[int(np.argmin(inside)) - 1]
        fraction = max(last_inside, self.in_range(start, target))
        return np.clip(self.at(start, target, np.array([fraction]))[0], self.lowest, self.highest)

    def toward_home(self, positions: np.ndarray) -> np.ndarray:
        """``positions`` moved toward ``home`` (arm joints only, in joint space) until the tool point is inside
        the shrunk box: the first of ``REFINE`` steps of the way that is, refined ``REFINE`` times in the last."""
        home = positions.copy()
        home[self.arm] = self.home
        steps = np.linspace(0.0, 1.0, REFINE + 1)
        inside = self.inside(self.at(positions, home, steps))
        if not inside.any():
            raise ValueError(f"the robot's home pose is outside the workspace box {self.inner}")
        first = int(np.argmax(inside))
        if first:
            finer = np.linspace(steps[first - 1], steps[first], REFINE + 1)
            first_finer = int(np.argmax(self.inside(self.at(positions, home, finer))))
            steps = finer
            first = first_finer
        return np.clip(self.at(positions, home, steps[first:first + 1])[0], self.lowest, self.highest)

    def in_range(self, start: np.ndarray, target: np.ndarray) -> float:
        """The fraction of the way from ``start`` to ``target`` (in range) from which every joint is in range."""
        start, target = start[self.arm], target[self.arm]
        lowest, highest = self.lowest[self.arm], self.highest[self.arm]
        with np.errstate(divide="ignore", invalid="ignore"):
            below = np.where(start < lowest, (lowest - start) / (target - start), 0.0)
            above = np.where(start > highest, (highest - start) / (target - start), 0.0)
        return float(np.clip(np.max(np.concatenate([below, above])), 0.0, 1.0))

    def at(self, start: np.ndarray, target: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        """Configurations (n, joints) at ``fractions`` of the arm's way from ``start``; other joints at ``target``."""
        configurations = np.tile(target, (len(fractions), 1))
        configurations[:, self.arm] = start[self.arm] + fractions[:, None] * (target[self.arm] - start[self.arm])
        return configurations
