"""Safety logic of the supervisor, in plain Python: limits, tool kinematics, trajectory checks, stops, states.

The ROS 2 safety supervisor node is a thin adapter around these; they run and are tested without ROS
and without a physics client: what they know of an arm is its description (``robots``).
"""

from robostral.safety.commanded import CommandedMotion, MotionState
from robostral.safety.envelope import clip_chunk
from robostral.safety.limits import JointLimits, SafetyConfig, robot_limits
from robostral.safety.plausibility import JointStateMonitor, Verdict
from robostral.safety.smoothing import smooth_motion
from robostral.safety.state import State, StateMachine, Status
from robostral.safety.stop import controlled_stop
from robostral.safety.trajectory import (
    MAX_POINTS,
    Accepted,
    Paused,
    Rejected,
    Trajectory,
    TrajectoryPoint,
    check_trajectory,
)

__all__ = [
    "MAX_POINTS",
    "Accepted",
    "CommandedMotion",
    "JointLimits",
    "JointStateMonitor",
    "MotionState",
    "Paused",
    "Rejected",
    "SafetyConfig",
    "State",
    "StateMachine",
    "Status",
    "Trajectory",
    "TrajectoryPoint",
    "Verdict",
    "check_trajectory",
    "clip_chunk",
    "controlled_stop",
    "smooth_motion",
    "robot_limits",
]
