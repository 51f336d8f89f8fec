"""The envelope a policy's targets are clipped into: whatever the chunk, the supervisor's checks accept the result."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROBOT_NAMES
from hypothesis import given, settings
from hypothesis import strategies as st

from robostral.safety import Accepted, SafetyConfig, Trajectory, TrajectoryPoint, check_trajectory
from robostral.safety.envelope import WORKSPACE_TOLERANCE, clip_chunk

HOME = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785, 0.04])  # the Panda's; tool point (0.463, 0, 0.401) m
BELOW_TABLE = HOME.copy()
BELOW_TABLE[[1, 3]] = [1.2, -1.5]  # leaning forward, elbow bent: the tool point 0.15 m under the table top
GENEROUS = 10.0  # s between points: slow enough that only positions can be refused


class Robot:
    """One robot's SafetyConfig, limits and kinematics, as the supervisor and the policy node build them."""

    def __init__(self, name: str) -> None:
        self.config = SafetyConfig(robot=name)
        self.limits = self.config.joint_limits()
        self.kinematics = self.config.description.tool_kinematics()
        self.arm = [self.limits.names.index(n) for n in self.kinematics.joint_names]

    def clip(self, current, chunk) -> np.ndarray:
        return clip_chunk(current, chunk, limits=self.limits, kinematics=self.kinematics, config=self.config)

    def check(self, current, chunk):
        points = [TrajectoryPoint(tuple(row), GENEROUS * (k + 1)) for k, row in enumerate(chunk)]
        return check_trajectory(Trajectory(self.limits.names, points), current, np.zeros(len(current)),
                                limits=self.limits, kinematics=self.kinematics, config=self.config)

    def tool(self, positions) -> np.ndarray:
        return self.kinematics.tool_points(np.atleast_2d(positions)[:, self.arm])

    def inside(self, positions) -> np.ndarray:
        return self.config.workspace.contains(self.tool(positions))


ROBOTS = {name: Robot(name) for name in ROBOT_NAMES}
PANDA = ROBOTS["panda"]


def test_a_target_past_a_joint_limit_is_brought_inside_the_margin():
    chunk = np.tile(HOME, (3, 1))
    chunk[:, 3] = -3.1416  # what the policy asked of panda_joint4 for objects not in the scene (limit -3.0718)
    clipped = PANDA.clip(HOME, chunk)
    assert clipped[:, 3] == pytest.approx(PANDA.limits.lower[3] + PANDA.config.position_margin)
    assert isinstance(PANDA.check(HOME, chunk), Accepted) is False  # as it was: refused
    assert isinstance(PANDA.check(HOME, clipped), Accepted)


def test_a_chunk_inside_the_envelope_is_left_as_it_is():
    chunk = HOME + np.linspace(0.0, 0.2, 4)[:, None] * np.array([1, 0.5, 0, 0.3, 0, -0.2, 0, -0.01])
    np.testing.assert_array_equal(PANDA.clip(HOME, chunk), chunk)


def test_a_point_through_the_table_is_pulled_back_to_the_floor_of_the_workspace():
    chunk = HOME + np.linspace(0.25, 1.0, 4)[:, None] * (BELOW_TABLE - HOME)
    clipped = PANDA.clip(HOME, chunk)
    assert isinstance(PANDA.check(HOME, clipped), Accepted)
    heights = PANDA.tool(clipped)[:, 2]
    floor = PANDA.config.workspace.low[2]
    assert np.all(heights >= floor + WORKSPACE_TOLERANCE - 1e-9)
    assert heights[-1] < floor + 3 * WORKSPACE_TOLERANCE  # pulled back to the border, not stopped short
    np.testing.assert_array_equal(clipped[:, -1], chunk[:, -1])  # the gripper keeps its targets


def test_an_arm_on_the_floor_of_the_workspace_can_still_be_commanded():
    """A tool point a hair above the floor (inside the box, not inside the tolerance) is no dead end."""
    direction = BELOW_TABLE - HOME
    low, high = 0.0, 1.0
    for _ in range(40):  # the configuration whose tool point is 0.5 mm above the workspace floor
        middle = (low + high) / 2
        z = PANDA.tool(HOME + middle * direction)[0, 2]
        low, high = (middle, high) if z > PANDA.config.workspace.low[2] + 0.0005 else (low, middle)
    on_floor = HOME + low * direction
    for chunk in (np.tile(BELOW_TABLE, (3, 1)), np.tile(HOME, (3, 1)), np.tile(on_floor, (3, 1))):
        clipped = PANDA.clip(on_floor, chunk)
        assert isinstance(PANDA.check(on_floor, clipped), Accepted)
    np.testing.assert_array_equal(PANDA.clip(on_floor, np.tile(HOME, (3, 1))), np.tile(HOME, (3, 1)))


def test_from_outside_the_box_the_way_in_is_kept_or_made_toward_home():
    """Issue 18 item 10: an arm that sank below the workspace floor (pushing a block along the table) had every
    command refused while the policy asked to stay low. The supervisor does not hold the way back in against an
    arm outside the box, only where it leads: so the chunk leads in, the policy's way or toward home."""
    below = BELOW_TABLE
    assert not PANDA.inside(below)[0]
    back_in = np.tile(HOME, (2, 1))
    np.testing.assert_array_equal(PANDA.clip(below, back_in), back_in)
    assert isinstance(PANDA.check(below, back_in), Accepted)
    deeper = np.tile(below, (2, 1))
    deeper[:, 1] += 0.1
    clipped = PANDA.clip(below, deeper)
    assert PANDA.inside(clipped).all() and isinstance(PANDA.check(below, clipped), Accepted)
    toward = (clipped[0] - deeper[0])[PANDA.arm]
    assert np.allclose(toward / np.linalg.norm(toward), (HOME - deeper[0])[PANDA.arm] / np.linalg.norm(
        (HOME - deeper[0])[PANDA.arm]))  # straight toward home in joint space
    assert np.linalg.norm(toward) < 0.5 * np.linalg.norm((HOME - deeper[0])[PANDA.arm])  # and no further than needed


def test_bad_shapes_and_nan_are_refused():
    for current, chunk in ((HOME[:-1], np.tile(HOME, (2, 1))), (HOME, HOME), (HOME, np.zeros((0, 8))),
                           (HOME, np.tile(HOME, (2, 1)) * np.nan)):
        with pytest.raises(ValueError):
            PANDA.clip(current, chunk)


@st.composite
def situations(draw):
    """(robot, current positions, chunk): anywhere in the joint ranges, targets up to 0.5 beyond them."""
    robot = ROBOTS[draw(st.sampled_from(ROBOT_NAMES))]
    lower, upper = np.asarray(robot.limits.lower), np.asarray(robot.limits.upper)
    unit = st.floats(0.0, 1.0)
    current = lower + np.array(draw(st.lists(unit, min_size=len(lower), max_size=len(lower)))) * (upper - lower)
    k = draw(st.integers(1, 6))
    scale = draw(st.sampled_from([0.05, 0.3, 1.0]))  # small steps from the current positions, or anywhere
    steps = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=k * len(lower), max_size=k * len(lower))))
    span = (upper - lower) + 1.0
    chunk = current + np.cumsum(steps.reshape(k, len(lower)) * scale * span, axis=0)
    return robot, current, chunk


@settings(max_examples=150, deadline=None)
@given(situations())
def test_whatever_the_chunk_the_supervisor_accepts_the_clipped_one(situation):
    robot, current, chunk = situation
    clipped = robot.clip(current, chunk)
    assert clipped.shape == chunk.shape and np.isfinite(clipped).all()
    assert np.all((clipped >= robot.limits.low) & (clipped <= robot.limits.high))
    verdict = robot.check(current, clipped)
    commandable = np.all((current >= robot.limits.low) & (current <= robot.limits.high))
    if commandable:
        assert isinstance(verdict, Accepted), verdict
    elif not isinstance(verdict, Accepted):
        # in the margin band, a way that leaves the box before the joints are in range is refused
        assert "workspace" in verdict.reason, verdict
