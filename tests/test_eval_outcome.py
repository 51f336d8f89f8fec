"""Why a failed episode failed, judged on real PyBullet scenes: the expert carries the named cube part of the
way, then the cube is put where a failure would leave it, and the watch must name what happened."""

from __future__ import annotations

import numpy as np
import pytest

from robostral.evaluation import ExpertActor, evaluate_episodes
from robostral.evaluation.outcome import (
    BARELY_MOVED,
    DROPPED_BY_GOAL,
    DROPPED_ON_THE_WAY,
    NEVER_LIFTED,
    NEVER_TOUCHED,
    NOT_REACHED,
    OTHER_FIRST,
    PUSHED_OFF,
    SET_DOWN_OFF,
    STILL_HELD,
    TABLE_LEVEL,
    NamedObjectWatch,
)
from robostral.evaluation.report import summarize_failures
from sim.rollout import make_env

SEED = 10_000_000


@pytest.fixture
def scene(request):
    """A reset ``request.param`` env, its scripted expert, and a watch on the named object."""
    env = make_env(request.param, "panda", image_size=0)
    observation, _ = env.reset(seed=SEED)
    expert = ExpertActor([env])
    expert.reset(0)
    yield env.unwrapped, expert, NamedObjectWatch(env.unwrapped)
    env.close()


def run_expert_until(base, expert, watch, condition, limit: int = 160) -> None:
    for _ in range(limit):
        [action] = expert.act([{}])
        base.advance(action)
        watch.update()
        if condition():
            return
    raise AssertionError("the expert never got there")


def move(base, name: str, position) -> None:
    """Put ``name`` at ``position`` at rest, as a failure would have left it, and let contacts update."""
    client, body = base.sim.client, base.sim.body(name)
    client.resetBasePositionAndOrientation(body, list(position), client.getBasePositionAndOrientation(body)[1])
    client.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0])
    base.sim.step(1)


@pytest.mark.parametrize("scene", ["stack"], indirect=True)
def test_a_carried_cube_is_still_held_then_dropped_or_set_down_off_target(scene):
    base, expert, watch = scene
    named, other = base.task.goal.a, base.task.goal.b
    start = base.sim.position(named)
    assert watch.failure(None) == NEVER_TOUCHED
    run_expert_until(base, expert, watch, lambda: base.robot.touches(named))
    assert watch.failure(None) == NEVER_LIFTED  # in the gripper, not yet off the table
    run_expert_until(base, expert, watch, lambda: base.sim.position(named)[2] - start[2] > 0.04)
    assert watch.failure(None) == STILL_HELD

    move(base, named, start + [0.0, 0.1, 0.0])  # out of the gripper, back on the table, away from the other cube
    assert not base.robot.touches(named) and watch.failure(None) == DROPPED_ON_THE_WAY
    move(base, named, base.sim.position(other) + [0.05, 0.0, 0.0])  # fell off the other cube, say
    assert watch.failure(None) == DROPPED_BY_GOAL
    beside = base.sim.position(other) + [0.03, 0.0, base.task.sizes[other]]  # on the other cube, off centre
    move(base, named, beside)
    assert watch.failure(None) == SET_DOWN_OFF
    assert watch.failure(other) == OTHER_FIRST  # whatever became of it, another cube moved first


@pytest.mark.parametrize("scene", ["pick_place"], indirect=True)
def test_a_cube_in_another_bin_is_set_down_off_target_not_dropped(scene):
    base, expert, watch = scene
    named, goal = base.task.goal.a, base.task.goal.b
    start = base.sim.position(named)
    run_expert_until(base, expert, watch, lambda: base.sim.position(named)[2] - start[2] > 0.04)
    other_bin = next(name for name in base.task.objects if name.startswith("bin_") and name != goal)
    move(base, named, base.sim.position(other_bin) + [0.0, 0.0, start[2] + 0.004])  # on its floor: 4 mm up
    assert abs(base.sim.position(named)[2] - start[2]) < TABLE_LEVEL  # as high as the table, so only contact tells
    assert watch.failure(None) == SET_DOWN_OFF


@pytest.mark.parametrize("scene", ["push"], indirect=True)
def test_a_pushed_cube_barely_moved_or_pushed_off_target(scene):
    base, expert, watch = scene
    named = base.task.goal.a
    start = base.sim.position(named)
    run_expert_until(base, expert, watch, lambda: base.robot.touches(named))
    move(base, named, start + [0.005, 0.0, 0.0])
    assert watch.failure(None) == BARELY_MOVED  # pushing does not lift, so "never lifted" is no reason here
    move(base, named, start + [0.05, 0.05, 0.0])
    assert watch.failure(None) == PUSHED_OFF


def test_whole_episodes_carry_their_reason_and_the_report_counts_them():
    class HoldsStill(ExpertActor):
        def act(self, observations):
            return [None if o is None else e.robot.joint_positions() for e, o in
                    zip((expert.env for expert in self.experts), observations)]

    still = evaluate_episodes(HoldsStill, "stack", "panda", [SEED, SEED + 1], batch_size=2)
    assert [r.failure for r in still] == [NEVER_TOUCHED, NEVER_TOUCHED]
    [reach] = evaluate_episodes(HoldsStill, "reach", "panda", [SEED], batch_size=1)
    assert reach.failure == NOT_REACHED  # a target cannot be touched or moved: the tool did not get there
    done = evaluate_episodes(ExpertActor, "stack", "panda", [SEED], batch_size=1)
    assert done[0].success and done[0].failure is None
    assert summarize_failures([*still, reach, *done]) == {NEVER_TOUCHED: 2, NOT_REACHED: 1}
    assert np.isclose(sum(summarize_failures(still).values()), len(still))
