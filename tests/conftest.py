"""Shared fixtures for the simulator tests: real PyBullet envs, closed when the test ends."""

from __future__ import annotations

import dataclasses
import os

import gymnasium
import numpy as np
import pytest

from robots import robot_names
from sim.envs import ENV_IDS
from sim.randomization import RandomizationConfig

ROBOT_NAMES = robot_names()  # every shipped arm

# Every range zero: the nominal scene, no latency, no action noise.
NOMINAL = RandomizationConfig(enabled=False)


@pytest.fixture(scope="session", autouse=True)
def encoder_cache_dir(tmp_path_factory):
    """Exported encoders are kept for this session only (children inherit it): the first export of each pooling
    is a real one, the others take its bytes (robostral/export/encoder_cache.py), and nothing is left behind."""
    path = tmp_path_factory.mktemp("encoder-cache")
    previous = os.environ.get("ROBOSTRAL_CACHE_DIR")
    os.environ["ROBOSTRAL_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["ROBOSTRAL_CACHE_DIR"]
    else:
        os.environ["ROBOSTRAL_CACHE_DIR"] = previous


def only(**ranges) -> RandomizationConfig:
    """A config (level 1) with every range zero except the ones given."""
    zero = {f.name: 0.0 for f in dataclasses.fields(RandomizationConfig) if f.name not in ("enabled", "level")}
    zero["action_latency"] = 0
    return RandomizationConfig(**{**zero, **ranges})


@pytest.fixture
def make_env():
    """``make_env(task, robot, **config)``: a registered env through ``gymnasium.make``.

    Cameras are off (``image_size=0``) unless the test asks for them: most tests
    need physics only, and rendering is what costs time.
    """
    envs = []

    def make(task: str = "reach", robot: str = "panda", **kwargs):
        kwargs.setdefault("image_size", 0)
        env = gymnasium.make(ENV_IDS[task], robot=robot, **kwargs)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


def hold(env) -> np.ndarray:
    """The action that keeps the arm and gripper where they are now."""
    return env.unwrapped.robot.joint_positions().astype(np.float32)


def teleport(env, name: str, position) -> None:
    """Put the named body at ``position`` (metres, world frame), upright and at rest."""
    client = env.unwrapped.sim.client
    client.resetBasePositionAndOrientation(env.unwrapped.sim.body(name), list(position), [0, 0, 0, 1])
    client.resetBaseVelocity(env.unwrapped.sim.body(name), [0, 0, 0], [0, 0, 0])


# ---------------------------------------------------------------------------
# Policy pipeline (tests/test_train*, test_export*, test_runtime*, test_policies_cli*):
# one tiny dataset, one tiny training run and one exported bundle per session.
# ---------------------------------------------------------------------------

PIPELINE_TASKS = ("reach", "pick_place")


def tiny_train_config(dataset, out, **overrides):
    """A TrainConfig that trains in seconds: 32 px images, a narrow network, one thread (fastest on a busy box)."""
    from robostral.training.config import PolicyOptions, TrainConfig

    values = dict(
        dataset=str(dataset), out=str(out), steps=60, batch_size=16, lr=3e-3, warmup_steps=5,
        log_every=5, eval_every=30, checkpoint_every=30, val_fraction=0.25, threads=1,
        policy=PolicyOptions(chunk_size=5, channels=(8, 16), keypoints=8, hidden_dim=64),
    )
    return TrainConfig(**{**values, **overrides})


@dataclasses.dataclass(frozen=True)
class Pipeline:
    dataset: object  # Path: LeRobot v3.0 dataset, 2 episodes each of PIPELINE_TASKS, 32 px
    run: object  # Path: training run of tiny_train_config (checkpoints at steps 30 and 60, metrics.csv)
    bundle: object  # Path: int8 variant too (permissive_int8_gate); shared by every test: copy it (copy_bundle) first


def permissive_int8_gate():
    """An int8 gate any variant of the tiny network passes (in int8 it is no faster, and 32 px frames are coarse),
    so that the pipeline's bundle carries a vouched int8 variant for the tests of one; tests/test_int8_gate.py
    tests the real bounds."""
    from robostral.export.quantize import Int8Gate

    return Int8Gate(max_abs=1.0, min_speedup=0.0)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    from robostral.data.collect import CollectConfig, collect
    from robostral.export.bundle import export_bundle
    from robostral.training.checkpoint import latest_checkpoint
    from robostral.training.trainer import train

    root = tmp_path_factory.mktemp("pipeline")
    dataset, run, bundle = root / "dataset", root / "run", root / "bundle"
    collect(
        CollectConfig(out=str(dataset), tasks=PIPELINE_TASKS, episodes=2, workers=2, image_size=32), progress=False
    )
    train(tiny_train_config(dataset, run))
    export_bundle(latest_checkpoint(run), bundle, "robostral export (tests/conftest.py pipeline)",
                  int8=permissive_int8_gate())
    return Pipeline(dataset, run, bundle)


@pytest.fixture(scope="session")
def wrist_pipeline(pipeline, tmp_path_factory) -> Pipeline:
    """The pipeline's scenes recorded with the wrist camera too, and its run grown by a wrist tower
    (``--init-from`` its last checkpoint), trained 20 steps and exported."""
    from robostral.data.collect import CollectConfig, collect
    from robostral.export.bundle import export_bundle
    from robostral.training.checkpoint import latest_checkpoint
    from robostral.training.trainer import train

    root = tmp_path_factory.mktemp("wrist")
    dataset, run, bundle = root / "dataset", root / "run", root / "bundle"
    collect(CollectConfig(out=str(dataset), tasks=PIPELINE_TASKS, episodes=2, workers=2, image_size=32, wrist=True),
            progress=False)
    config = tiny_train_config(dataset, run, steps=20, checkpoint_every=20,
                               init_from=str(latest_checkpoint(pipeline.run)))
    config.policy.wrist_camera = True
    train(config)
    export_bundle(latest_checkpoint(run), bundle, "robostral export (tests/conftest.py wrist_pipeline)")
    return Pipeline(dataset, run, bundle)


@pytest.fixture(scope="session")
def ur5_pipeline(tmp_path_factory) -> Pipeline:
    """The pipeline on a UR5, as tiny: 2 reach episodes at 32 px, tiny_train_config, exported (for the fake cell)."""
    from robostral.data.collect import CollectConfig, collect
    from robostral.export.bundle import export_bundle
    from robostral.training.checkpoint import latest_checkpoint
    from robostral.training.trainer import train

    root = tmp_path_factory.mktemp("ur5")
    dataset, run, bundle = root / "dataset", root / "run", root / "bundle"
    collect(CollectConfig(out=str(dataset), robot="ur5", tasks=("reach",), episodes=2, workers=2, image_size=32),
            progress=False)
    train(tiny_train_config(dataset, run))
    export_bundle(latest_checkpoint(run), bundle, "robostral export (tests/conftest.py ur5_pipeline)")
    return Pipeline(dataset, run, bundle)


def copy_bundle(bundle, target):
    """A copy of ``bundle`` to tamper with; encoder.onnx (90 MB) is hard-linked, so never write to it in place."""
    import os
    import shutil

    target.mkdir(parents=True)
    for path in bundle.iterdir():
        if path.name == "encoder.onnx":
            os.link(path, target / path.name)
        else:
            shutil.copy2(path, target / path.name)
    return target


def robostral_cli(*args: str, **kwargs):
    """`robostral ARGS` as a child process that Ctrl-C (SIGINT) interrupts as a terminal would: a shell's
    background job (CI under `cmd &`) starts its children with SIGINT ignored. Output piped, text."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    options = {"cwd": Path(__file__).resolve().parent.parent, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
               "text": True, **kwargs}
    return subprocess.Popen([sys.executable, "-m", "robostral.cli", *args],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **options)

