"""Evaluation metrics proven on the scripted expert: distractor choice, chains, and the sim hooks chains use.

No policy here: the expert (and experts told to do the wrong thing) drive real
PyBullet envs through the same batched loop that runs bundles.
"""

from __future__ import annotations

import numpy as np
import pytest

from robostral.evaluation import ExpertActor, evaluate_chain_links, evaluate_chains, evaluate_episodes
from robostral.evaluation.outcome import DROPPED_ON_THE_WAY, NEVER_TOUCHED, OTHER_FIRST
from robostral.evaluation.report import summarize_chains, summarize_choice, summarize_failures, summarize_links
from robostral.evaluation.rollouts import LinkResult
from robostral.stats import success_summary, wilson_interval
from sim.env import RobotTaskEnv
from sim.tasks import task_class
from sim.tasks.chain import CHAIN_LENGTH, LINK_STEPS, ChainScene
from sim.tasks.task import Goal

SEEDS = range(10_000_000, 10_000_003)


@pytest.mark.parametrize("task", ["push", "pick_place", "stack"])
def test_the_expert_always_moves_the_named_object_first(task):
    results = evaluate_episodes(ExpertActor, task, "panda", SEEDS, batch_size=3)
    assert all(r.success for r in results)
    choice = summarize_choice(results)
    assert choice["rate"] == 1.0 and choice["choices"] == len(SEEDS) and choice["no_choice"] == 0
    assert [r.first_moved for r in results] == [r.named for r in results]


class DistractorExpert(ExpertActor):
    """The pick_place expert, sent for the cube the instruction does not name."""

    def reset(self, slot: int) -> None:
        task = self.experts[slot].task
        named = task.goal
        task.goal = Goal(next(o for o in task.objects if o.startswith("cube_") and o != named.a), named.b)
        super().reset(slot)  # the expert plans for the distractor...
        task.goal = named  # ...while the env still judges, and reports, the named cube


def test_an_actor_that_takes_the_distractor_scores_zero():
    results = evaluate_episodes(DistractorExpert, "pick_place", "panda", SEEDS, batch_size=3)
    choice = summarize_choice(results)
    assert choice["rate"] == 0.0 and choice["choices"] == len(SEEDS)
    assert not any(r.success for r in results)
    assert all(r.first_moved.startswith("cube_") and r.first_moved != r.named for r in results)
    assert summarize_failures(results) == {OTHER_FIRST: len(SEEDS)}  # why they failed, too


def test_reach_has_no_distractor_metric_and_idle_episodes_make_no_choice():
    results = evaluate_episodes(ExpertActor, "reach", "panda", SEEDS[:2], batch_size=2)
    assert summarize_choice(results) is None
    assert all(r.first_moved is None for r in results)


def test_the_expert_completes_chains_of_five():
    results = evaluate_chains(ExpertActor, "panda", SEEDS, batch_size=3)
    assert [r.completed for r in results] == [CHAIN_LENGTH] * len(SEEDS)
    for r in results:
        assert len(r.instructions) == CHAIN_LENGTH
        assert all("bin" in text for text in r.instructions)
    summary = summarize_chains(results)
    assert summary["average_completed"] == CHAIN_LENGTH
    assert summary["completed_counts"] == [0, 0, 0, 0, 0, len(SEEDS)]
    assert summary["success_at"] == [1.0] * CHAIN_LENGTH


class StopsAfterTwoLinks(ExpertActor):
    """The expert for two links, then the arm holds still."""

    def __init__(self, envs) -> None:
        super().__init__(envs)
        self.envs, self.links = envs, [0] * len(envs)

    def reset(self, slot: int) -> None:
        self.links[slot] += 1
        super().reset(slot)

    def act(self, observations):
        actions = super().act(observations)
        for slot, base in enumerate(env.unwrapped for env in self.envs):
            if observations[slot] is not None and self.links[slot] > 2:
                actions[slot] = base.robot.joint_positions()
        return actions


def test_a_chain_ends_at_its_first_failed_link():
    [result] = evaluate_chains(StopsAfterTwoLinks, "panda", SEEDS[:1], batch_size=1)
    assert result.completed == 2
    assert len(result.instructions) == 3  # the third was given, then failed
    assert result.steps > LINK_STEPS  # the failed link used its whole budget
    summary = summarize_chains([result])
    assert summary["completed_counts"] == [0, 0, 1, 0, 0, 0] and summary["average_completed"] == 2


def test_the_expert_leads_into_each_link_of_the_chain_it_would_have_run():
    chains = evaluate_chains(ExpertActor, "panda", SEEDS[:2], batch_size=2)
    for link in range(1, CHAIN_LENGTH + 1):
        results = evaluate_chain_links(ExpertActor, "panda", SEEDS[:2], link, batch_size=2)
        assert [r.link for r in results] == [link, link] and all(r.led_in and r.success for r in results)
        # the scene handed over is the chain's at that link: its instruction is the chain's k-th
        assert [r.instruction for r in results] == [c.instructions[link - 1] for c in chains]
    summary = summarize_links([evaluate_chain_links(ExpertActor, "panda", SEEDS[:2], 3, batch_size=2)])
    assert summary == {"3": {**success_summary(2, 2), "lead_in_failed": 0, "failures": {}}}


class HoldsStill:
    """An actor that commands the arm's current joint positions: it never does anything."""

    def __init__(self, envs) -> None:
        self.envs = envs

    def reset(self, slot: int) -> None:
        pass

    def act(self, observations):
        return [None if o is None else env.unwrapped.robot.joint_positions()
                for o, env in zip(observations, self.envs)]


def test_a_link_the_policy_does_not_do_fails_on_its_own_budget():
    [result] = evaluate_chain_links(HoldsStill, "panda", SEEDS[:1], 3, batch_size=1)
    assert result.led_in and not result.success and result.steps == LINK_STEPS
    assert result.failure == NEVER_TOUCHED  # judged from the scene the lead-in handed over, not from the start
    with pytest.raises(ValueError, match="link must be within 1..5, got 6"):
        evaluate_chain_links(ExpertActor, "panda", SEEDS[:1], 6)


def test_links_whose_lead_in_failed_are_counted_apart_from_the_policy():
    def link(success: bool, led_in: bool, seed: int) -> LinkResult:
        return LinkResult("chain", "panda", seed, "train", success, 10, "put it there", "cube_red", None,
                          failure=None if success or not led_in else DROPPED_ON_THE_WAY, link=2, led_in=led_in)

    summary = summarize_links([[link(True, True, 1), link(False, True, 2), link(False, False, 3)]])
    assert summary == {"2": {**success_summary(1, 2), "lead_in_failed": 1, "failures": {DROPPED_ON_THE_WAY: 1}}}


def test_success_rates_carry_their_wilson_interval():
    for successes, n in ((0, 5), (3, 10), (10, 10)):
        summary = success_summary(successes, n)
        assert (summary["ci_low"], summary["ci_high"]) == wilson_interval(successes, n)
        assert summary["ci_low"] <= summary["success_rate"] <= summary["ci_high"]


def test_set_goal_gives_a_new_instruction_without_touching_the_scene():
    env = RobotTaskEnv(ChainScene, "panda", image_size=0)
    try:
        env.reset(seed=5)
        task = env.task
        before = {name: env.sim.position(name) for name in task.objects}
        cube = next(c for c in task.cubes if c != task.goal.a)
        target = next(b for b in task.bins if b != task.goal.b)
        text = env.set_goal(Goal(cube, target))
        assert cube.split("_")[1] in text and target.split("_")[1] in text
        observation, *_ = env.step(env.robot.joint_positions())
        assert observation["instruction"] == text == env.instruction
        for name, position in before.items():
            np.testing.assert_allclose(env.sim.position(name), position, atol=1e-3)
        with pytest.raises(ValueError, match="cube_nothing"):
            env.set_goal(Goal("cube_nothing", target))
    finally:
        env.close()


def test_the_chain_scene_has_two_cubes_three_bins_and_always_a_free_bin():
    env = RobotTaskEnv(ChainScene, "panda", image_size=0)
    try:
        env.reset(seed=11)
        task = env.task
        assert len(task.cubes) == 2 and len(task.bins) == 3
        assert task_class(ChainScene) is ChainScene and task.name == "pick_place"
        goal = task.next_goal(np.random.default_rng(0))
        assert goal.a != task.goal.a and not task.occupied(goal.b)
    finally:
        env.close()
