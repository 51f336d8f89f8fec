"""A policy evaluated through the path its commands take on a cell: policy node, safety supervisor, controller.

``robostral eval`` normally steps the simulator straight to each step's target (``--controller direct``,
as the policy was trained). On a cell, every step's ensembled chunk is clipped into the envelope
(``clip_chunk``, as the policy node does), checked and re-timed by the supervisor from what it commanded
(``check_trajectory``), then either sent as positions (``linear``: the controller interpolates linearly,
the stack before jerk-limited motion) or planned as a jerk-limited motion (``smooth``:
``smooth_motion``, what the supervisor sends now), and followed as the controller does
(``CommandedMotion``). The simulator is sent where the controller will be one control period later,
as the sim driver does. A command the supervisor rejects brakes what was commanded
(``controlled_stop``), as it does on a cell. Paired against each other on the same seeds
(``robostral compare``), the controllers show what the way a command is executed does to success.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from robostral.evaluation.actors import PolicyActor
from robostral.safety import (
    Accepted,
    CommandedMotion,
    SafetyConfig,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
    clip_chunk,
    controlled_stop,
    smooth_motion,
)

CONTROLLER_WORDS = {
    "direct": "direct (the simulator's position target)",
    "linear": "through the safety supervisor, positions interpolated linearly",
    "smooth": "through the safety supervisor, its jerk-limited plans",
}
CONTROLLERS = tuple(CONTROLLER_WORDS)


class SupervisedActor:
    """``PolicyActor``'s plans, executed through the supervisor's checks and a controller model per slot."""

    def __init__(self, policy: PolicyActor, envs: Sequence[gym.Env], robot: str, control_hz: float,
                 smooth: bool) -> None:
        self.policy, self.envs, self.smooth = policy, envs, smooth
        self.period = 1.0 / control_hz
        self.config = SafetyConfig(robot=robot)
        self.limits = self.config.joint_limits()
        self.checks = dict(limits=self.limits, kinematics=self.config.description.tool_kinematics(),
                           config=self.config)
        self.motions = [CommandedMotion(self.limits.names) for _ in envs]
        self.clocks = [0.0] * len(envs)
        self.rejected = 0  # commands the supervisor would have rejected, over the whole evaluation

    def reset(self, slot: int) -> None:
        self.policy.reset(slot)
        self.motions[slot].forget()  # a new scene: the controller holds where the arm is
        self.clocks[slot] = 0.0

    def act(self, observations: Sequence[dict | None]) -> list[np.ndarray | None]:
        plans = self.policy.plans(observations)
        return [None if plan is None else self._execute(slot, plan) for slot, plan in enumerate(plans)]

    def _execute(self, slot: int, plan: np.ndarray) -> np.ndarray:
        """Send ``plan`` through the supervisor's path now; the controller's position one period later."""
        motion, now = self.motions[slot], self.clocks[slot]
        measured = self.envs[slot].unwrapped.robot.joint_positions()
        start = motion.at(now, fallback=measured)
        chunk = clip_chunk(measured, plan, **self.checks)
        times = (np.arange(len(chunk)) + 1) * self.period
        trajectory = Trajectory(self.limits.names, [TrajectoryPoint(tuple(q), t) for q, t in zip(chunk, times)])
        verdict = check_trajectory(trajectory, start.positions, start.velocities, **self.checks)
        if isinstance(verdict, Accepted) and self.smooth:
            verdict = smooth_motion(verdict, start, **self.checks)
        if isinstance(verdict, Accepted):
            self._follow(motion, verdict.trajectory, now, measured, with_rates=self.smooth)
        else:
            self.rejected += 1
            if motion.in_motion(now):
                stop = controlled_stop(start.positions, start.velocities, self.limits, self.config)
                self._follow(motion, stop, now, measured, with_rates=True)
        self.clocks[slot] = now + self.period
        return motion.at(now + self.period, fallback=measured).positions.astype(np.float32)

    @staticmethod
    def _follow(motion: CommandedMotion, trajectory: Trajectory, now: float, measured: np.ndarray,
                with_rates: bool) -> None:
        points = trajectory.points
        rates = [np.array([getattr(p, field) for p in points]) if with_rates else None
                 for field in ("velocities", "accelerations")]
        motion.follow(trajectory.joint_names, np.array([p.positions for p in points]),
                      [p.time_from_start for p in points], now, start=measured, velocities=rates[0],
                      accelerations=rates[1])
