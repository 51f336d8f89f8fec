"""Scripted experts succeed on every task and robot, domain randomization on at its default level.

Episodes run on the registered envs (``gymnasium.make``), so the registered time
limit applies: an episode that runs out of steps ends truncated and unsuccessful.
"""

from __future__ import annotations

import itertools

import gymnasium
import pytest

import sim
from sim.robots import ROBOTS
from sim.rollout import EpisodeResult, run_expert_episode
from sim.tasks import TASKS

COMBINATIONS = list(itertools.product(TASKS, ROBOTS))
QUICK_SEEDS = range(5)
FULL_EPISODES = 200
GOAL = 0.98  # success rate over FULL_EPISODES seeded episodes


@pytest.fixture
def run_episodes():
    """``run_episodes(task, robot, seeds)``: expert results on one registered env, camera off."""
    envs = []

    def run(task: str, robot: str, seeds) -> list[EpisodeResult]:
        env = gymnasium.make(sim.ENV_IDS[task], robot=robot, image_size=0)
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
