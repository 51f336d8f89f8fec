"""The arms the simulator knows, by name."""

from sim.robots.panda import PANDA
from sim.robots.robot import Robot, RobotSpec
from sim.robots.xarm6 import XARM6

ROBOTS: dict[str, RobotSpec] = {spec.name: spec for spec in (PANDA, XARM6)}
DEFAULT_ROBOT = PANDA.name  # the arm a command, config or node uses when none is named


def robot_spec(name: str) -> RobotSpec:
    """The spec of a known arm; a clear error names the ones that exist."""
    try:
        return ROBOTS[name]
    except KeyError:
        raise ValueError(f"unknown robot {name!r}; known robots: {', '.join(sorted(ROBOTS))}") from None


__all__ = ["DEFAULT_ROBOT", "ROBOTS", "Robot", "RobotSpec", "robot_spec"]
