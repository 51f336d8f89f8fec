"""Whether a received joint state can be believed: the supervisor's checks before it uses one.

Anything on the graph can publish ``/joint_states``. A state is used only if it is physically
possible for this arm given what the supervisor knows: positions inside the URDF limits plus a
small tolerance, velocities within a bounded multiple of the limits, a stamp that does not go
backwards or lie in the future, a change since the previous believed state that the velocity
limits allow in the time between their stamps, and arm joints within a tracking tolerance of
where the supervisor itself last commanded them. An implausible state is a lie or a broken
sensor: the supervisor latches a fault on it (see ``docs/trust-model.md``). A state whose stamp is
merely old is late, not a lie: it is dropped without a fault.

The gripper is not held to the commanded position: a gripper closing on an object stops short
of its command by design. Units: joint units (rad or m), seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robostral.safety.limits import JointLimits, SafetyConfig


@dataclass(frozen=True)
class Verdict:
    """``believed``: use the state; else ``fault`` says whether to latch a fault (a lie) or only drop it (late)."""

    believed: bool
    reason: str = ""
    fault: bool = False


BELIEVED = Verdict(True)


class JointStateMonitor:
    """Checks each joint state against the limits, the previous believed state and the commanded motion."""

    def __init__(self, limits: JointLimits, config: SafetyConfig) -> None:
        self.limits = limits
        self.config = config
        self.lower = np.asarray(limits.lower) - config.state_limit_tolerance
        self.upper = np.asarray(limits.upper) + config.state_limit_tolerance
        self.max_speed = np.asarray(limits.max_velocity) * config.state_velocity_factor
        self.tracked = np.array([name != limits.gripper_name for name in limits.names])
        self.forget()

    def forget(self) -> None:
        """No previous state: the next plausible one is the new baseline (after an engineer's reset)."""
        self.previous: tuple[float, np.ndarray] | None = None  # (stamp s, positions)

    def check(self, positions: np.ndarray, velocities: np.ndarray, stamp: float, clock: float,
              commanded: np.ndarray | None = None) -> Verdict:
        """The verdict on a finite joint state (robot joint order) stamped ``stamp`` (s, the publisher's clock),
        received at ``clock`` (s, the same time base: ROS time); ``commanded``: where the supervisor's own
        commands put the joints now (NaN for a joint never commanded), or None."""
        names, config = self.limits.names, self.config
        if stamp > clock + config.state_stamp_tolerance:
            return Verdict(False, f"joint state stamped {stamp - clock:.3f} s in the future", fault=True)
        if self.previous is not None and stamp < self.previous[0]:
            return Verdict(False, f"joint state stamped {self.previous[0] - stamp:.3f} s before the previous one",
                           fault=True)
        if clock - stamp > config.state_stale_after:
            return Verdict(False, f"joint state {clock - stamp:.2f} s old dropped")
        outside = np.flatnonzero((positions < self.lower) | (positions > self.upper))
        if outside.size:
            j = outside[0]
            return Verdict(False, f"joint state: {names[j]} at {positions[j]:.4g} is outside its limits "
                                  f"[{self.limits.lower[j]:.4g}, {self.limits.upper[j]:.4g}]", fault=True)
        fast = np.flatnonzero(np.abs(velocities) > self.max_speed)
        if fast.size:
            j = fast[0]
            return Verdict(False, f"joint state: {names[j]} velocity {velocities[j]:.4g} is beyond "
                                  f"{config.state_velocity_factor:g}x its limit {self.limits.max_velocity[j]:.4g}",
                           fault=True)
        if self.previous is not None:
            elapsed = stamp - self.previous[0]
            jump = np.abs(positions - self.previous[1])
            allowed = self.max_speed * elapsed + config.state_jump_tolerance
            leaps = np.flatnonzero(jump > allowed)
            if leaps.size:
                j = leaps[0]
                return Verdict(False, f"joint state: {names[j]} moved {jump[j]:.4g} in {elapsed:.3f} s "
                                      f"(at most {allowed[j]:.4g} is possible)", fault=True)
        if commanded is not None:
            error = np.where(self.tracked & np.isfinite(commanded), np.abs(positions - commanded), 0.0)
            off = np.flatnonzero(error > config.tracking_tolerance)
            if off.size:
                j = off[0]
                return Verdict(False, f"joint state: {names[j]} at {positions[j]:.4g} is {error[j]:.4g} from "
                                      f"where it was commanded ({commanded[j]:.4g}; tolerance "
                                      f"{config.tracking_tolerance:g})", fault=True)
        self.previous = (stamp, np.array(positions, dtype=np.float64))
        return BELIEVED
