"""Scripted experts succeed on every task and robot, domain randomization on at its default level,
and on every link of an instruction chain.

Episodes run on the registered envs (``gymnasium.make``), so the registered time
limit applies: an episode that runs out of steps ends truncated and unsuccessful.
"""

from __future__ import annotations

import itertools

import gymnasium
import pytest

from robots import robot_names
from sim.envs import ENV_IDS
from sim.rollout import EpisodeResult, chain_lead_in, run_expert_episode
from sim.tasks import TASKS
from sim.tasks.chain import CHAIN_LENGTH, LINK_STEPS, links_before

ROBOTS = robot_names()
COMBINATIONS = list(itertools.product(TASKS, ROBOTS))
QUICK_SEEDS = range(5)
FULL_EPISODES = 200
GOAL = 0.98  # success rate over FULL_EPISODES seeded episodes


@pytest.fixture
def run_episodes():
    """``run_episodes(task, robot, seeds)``: expert results on one registered env, camera off."""
    envs = []

    def run(task: str, robot: str, seeds) -> list[EpisodeResult]:
        env = gymnasium.make(ENV_IDS[task], robot=robot, image_size=0)
        envs.append(env)
        return [run_expert_episode(env, seed) for seed in seeds]

    yield run
    for env in envs:
        env.close()


@pytest.mark.parametrize("task,robot", COMBINATIONS)
def test_expert_succeeds_on_fixed_seeds(run_episodes, task, robot):
    results = run_episodes(task, robot, QUICK_SEEDS)
    limit = TASKS[task].max_episode_steps
    failed = [(r.seed, r.steps) for r in results if not r.success]
    assert not failed, f"{task}/{robot}: (seed, steps) failed within {limit} steps: {failed}"
    assert all(r.steps <= limit for r in results)


@pytest.mark.slow
@pytest.mark.parametrize("task,robot", COMBINATIONS)
def test_expert_success_rate_over_200_episodes(run_episodes, task, robot):
    results = run_episodes(task, robot, range(FULL_EPISODES))
    successes = sum(r.success for r in results)
    failed = [r.seed for r in results if not r.success]
    assert successes >= GOAL * FULL_EPISODES, f"{task}/{robot}: {successes}/{FULL_EPISODES}, failed seeds {failed}"


@pytest.mark.parametrize("robot", ROBOTS)
def test_a_chain_episode_is_the_link_its_seed_names_after_the_links_before_it(run_episodes, robot):
    env = gymnasium.make(ENV_IDS["chain"], robot=robot, image_size=0)
    scene = env.unwrapped.task
    for links in range(CHAIN_LENGTH):
        env.reset(seed=links)
        assert chain_lead_in(env, links)
        in_bins = [cube for cube in scene.cubes if any(scene.occupied_by(b, cube) for b in scene.bins)]
        assert len(in_bins) == min(links, 2)  # links alternate between the two cubes
        assert (scene.goal.a in in_bins) == (links >= 2)  # from link 3 on a cube comes out of a bin
        assert not scene.occupied(scene.goal.b)  # into a free one
    env.close()
    results = run_episodes("chain", robot, range(CHAIN_LENGTH))  # seeds 0..4: links 1..5
    assert [links_before(r.seed) for r in results] == list(range(CHAIN_LENGTH))
    assert all(r.success and 0 < r.steps <= LINK_STEPS and "bin" in r.instruction for r in results), results
