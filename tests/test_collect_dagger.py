"""`robostral collect --dagger BUNDLE`: the policy drives, the expert labels what it visits, the dataset grows."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from robostral.cli import main
from robostral.data import load_dataset
from robostral.data.collect import CollectConfig
from robostral.evaluation.actors import PolicyDriver
from sim.rollout import make_env, record_expert_episode

DAGGER_SEED = 1000  # beyond the pipeline's expert seeds (0, 1, ...)


class LoggingDriver(PolicyDriver):
    """The bundle's driver, keeping every action it took."""

    def __init__(self, bundle: str) -> None:
        super().__init__(bundle)
        self.taken: list[np.ndarray] = []

    def act(self, observation: dict) -> np.ndarray:
        self.taken.append(super().act(observation))
        return self.taken[-1]


def dagger_args(dataset, bundle, *extra: str) -> list[str]:
    return ["collect", "--out", str(dataset), "--tasks", "reach,pick_place", "--episodes", "1", "--workers", "1",
            "--image-size", "32", "--seed", str(DAGGER_SEED), "--dagger", str(bundle), *extra]


@pytest.fixture(scope="module")
def aggregated(pipeline, tmp_path_factory):
    """The pipeline's expert dataset with one DAgger round of its own bundle added (and the CLI's output)."""
    dataset = tmp_path_factory.mktemp("dagger") / "dataset"
    shutil.copytree(pipeline.dataset, dataset)
    return dataset


def test_a_round_adds_every_episode_the_policy_drove_labelled_by_the_expert(pipeline, aggregated, capsys):
    before = load_dataset(aggregated)
    assert main(dagger_args(aggregated, pipeline.bundle)) == 0
    assert "DAgger: the policy reached the goal in" in capsys.readouterr().out
    after = load_dataset(aggregated)
    added = [e for e in after.episodes if e["seed"] == DAGGER_SEED]
    assert len(after.episodes) == len(before.episodes) + 2 and {e["sim_task"] for e in added} == {"reach", "pick_place"}
    run = after.info["robostral"]["dagger"][0]
    assert (run["bundle"], run["seed"], run["episodes"]) == (str(pipeline.bundle.resolve()), DAGGER_SEED, 1)

    # The same episode again, in this process: the labels are the expert's, not what the policy did.
    episode = next(e for e in added if e["sim_task"] == "pick_place")
    driver = LoggingDriver(str(pipeline.bundle))
    env_kwargs = CollectConfig(out="", image_size=32).env_kwargs
    recorded = record_expert_episode(make_env("pick_place", "panda", **env_kwargs), DAGGER_SEED, driver=driver)
    start, stop = int(episode["dataset_from_index"]), int(episode["dataset_to_index"])
    labels = after.load_arrays(["action"])["action"][start:stop]
    assert bool(episode["success"]) == recorded.result.success
    np.testing.assert_allclose(labels, np.stack(recorded.actions), atol=1e-5)  # deterministic, as recorded
    taken = np.stack(driver.taken)
    assert len(taken) == len(labels)
    assert np.abs(taken - labels).max() > 1e-3  # what drove is not what was recorded


def test_running_the_same_round_again_adds_nothing(pipeline, aggregated, capsys):
    if not any(e["seed"] == DAGGER_SEED for e in load_dataset(aggregated).episodes):
        main(dagger_args(aggregated, pipeline.bundle))
    count = len(load_dataset(aggregated).episodes)
    assert main(dagger_args(aggregated, pipeline.bundle)) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert len(load_dataset(aggregated).episodes) == count


def test_a_round_on_the_expert_seeds_is_refused_before_anything_is_written(pipeline, tmp_path, capsys):
    dataset = tmp_path / "dataset"
    shutil.copytree(pipeline.dataset, dataset)
    args = dagger_args(dataset, pipeline.bundle)
    args[args.index("--seed") + 1] = "0"
    assert main(args) != 0
    error = capsys.readouterr().err
    assert "episode(s) of these seeds not driven by" in error and "give this DAgger round its own seeds" in error
    assert len(load_dataset(dataset).episodes) == len(load_dataset(pipeline.dataset).episodes)


@pytest.mark.parametrize("extra, reason", [
    (["--image-size", "48"], "it takes 32-pixel images: --image-size 32"),
    (["--robot", "ur5"], "it drives a panda, this collection a ur5"),
])
def test_a_bundle_trained_for_other_inputs_is_refused(pipeline, tmp_path, capsys, extra, reason):
    args = [a for a in dagger_args(tmp_path / "dataset", pipeline.bundle) if a not in ("--image-size", "32")]
    assert main([*args, *extra]) != 0
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "dataset").exists()


def test_a_directory_that_is_no_bundle_is_refused(tmp_path, capsys):
    assert main(dagger_args(tmp_path / "dataset", tmp_path / "nowhere")) != 0
    assert "dagger: no policy bundle at" in capsys.readouterr().err
