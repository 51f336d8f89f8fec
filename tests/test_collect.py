"""`robostral collect` run as users run it: real experts in PyBullet, worker processes, real signals, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import robostral_cli

from robostral.cli import main
from robostral.data import load_dataset
from robostral.data.collect import CollectConfig, collect
from sim.rollout import make_env, record_expert_episode, run_expert_episode

SMALL = CollectConfig(out="", tasks=("reach", "push"), episodes=2, workers=2, image_size=32)


def keys(ds) -> list[tuple[str, int]]:
    return [(e["sim_task"], e["seed"]) for e in ds.episodes]


def expected_keys(ds, tasks: tuple[str, ...], episodes: int, seed: int = 0) -> set[tuple[str, int]]:
    """The first ``episodes`` seeds of each task's stream that were not discarded."""
    discarded = ds.info["robostral"]["discarded"]
    wanted = set()
    for task in tasks:
        seeds = (s for s in range(seed, seed + 10_000) if s not in discarded.get(task, []))
        wanted |= {(task, next(seeds)) for _ in range(episodes)}
    return wanted


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("collect") / "ds"
    report = collect(CollectConfig(**{**SMALL.__dict__, "out": str(out)}), progress=False)
    assert (report.kept, report.discarded, report.skipped, report.interrupted) == (4, 0, 0, False)
    return out


def test_collect_records_what_the_expert_did(small):
    ds = load_dataset(small)
    assert sorted(keys(ds)) == sorted(expected_keys(ds, ("reach", "push"), 2))
    assert ds.robot == "panda" and ds.fps == 20 and all(e["success"] for e in ds.episodes)
    assert ds.joint_names == make_env("reach", "panda", image_size=0).unwrapped.robot.joint_names
    provenance = ds.info["robostral"]
    assert provenance["env_ids"] == {"reach": "robostral/Reach-v0", "push": "robostral/Push-v0"}
    assert provenance["env_config"]["image_size"] == 32 and provenance["env_config"]["instructions"] == "train"
    assert provenance["env_config"]["randomization"]["level"] == 1.0
    assert provenance["commands"] == [CollectConfig(**{**SMALL.__dict__, "out": str(small)}).command]

    # Re-record one episode here: the dataset holds exactly its frames, actions and instruction.
    episode = next(e for e in ds.episodes if e["sim_task"] == "push")
    recorded = record_expert_episode(make_env("push", "panda", **SMALL.env_kwargs), episode["seed"])
    arrays = ds.load_arrays()
    frames = slice(episode["dataset_from_index"], episode["dataset_to_index"])
    assert episode["length"] == recorded.result.steps == len(recorded.actions)
    assert episode["tasks"] == [recorded.result.instruction]
    assert ds.tasks[arrays["task_index"][frames][0]] == recorded.result.instruction
    np.testing.assert_array_equal(arrays["observation.images.front"][frames],
                                  np.stack([o["image"] for o in recorded.observations]))
    np.testing.assert_array_equal(arrays["observation.state"][frames],
                                  np.stack([o["proprio"] for o in recorded.observations]))
    np.testing.assert_array_equal(arrays["action"][frames], np.stack(recorded.actions))
    row = pq.read_table(small / "meta/episodes/chunk-000/file-000.parquet").to_pylist()[episode["episode_index"]]
    assert json.loads(row["randomization"]) == json.loads(json.dumps(recorded.randomization))


def test_running_a_finished_collection_again_does_nothing(small, capsys):
    before = {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file() and p.name != ".robostral.lock"}
    digest = load_dataset(small).hash()
    assert main(["collect", "--out", str(small), "--tasks", "reach,push", "--episodes", "2", "--image-size", "32"]) == 0
    assert "nothing to do: all 4 episodes (reach,push x 2) are already in" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file() and p.name != ".robostral.lock"}
    assert after == before and load_dataset(small).hash() == digest


@pytest.mark.parametrize("args, needle", [
    (["--robot", "xarm6"], "robot is 'panda', these episodes' is 'xarm6'"),
    (["--image-size", "48"], "image size is 32, these episodes' is 48"),
    (["--level", "0.5"], "randomization.level: dataset 1.0, this run 0.5"),
    (["--wrist"], "wrist camera is False"),
])
def test_collect_refuses_to_mix_datasets(small, capsys, args, needle):
    argv = ["collect", "--out", str(small), "--tasks", "reach", "--episodes", "3", "--image-size", "32", *args]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
    assert load_dataset(small).info["total_episodes"] == 4


def test_collect_refuses_bad_arguments(tmp_path):
    for args, needle in [
        (["--tasks", "reach,juggle"], "unknown task(s) juggle"),
        (["--episodes", "0"], "must be a positive integer"),
    ]:
        process = robostral_cli("collect", "--out", str(tmp_path / "x"), "--episodes", "1", *args)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 2 and needle in err, err


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _communicate_or_explain(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``communicate``; on a hang, fail with what was still running and where each thread of the CLI stood."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        running = {pid: Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:120]
                   for pid in [process.pid, *_children(process.pid)] if Path(f"/proc/{pid}").exists()}
        process.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER=1: the threads' stacks go to stderr
        out_text, err_text = process.communicate(timeout=30)
        pytest.fail(f"no exit {timeout:g} s after the signal; still running: {running}\n"
                    f"stdout: {out_text[-1000:]}\nstderr: {err_text[-6000:]}")


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


@pytest.mark.parametrize("sig, victim", [(signal.SIGINT, "main"), (signal.SIGKILL, "main"),
                                         (signal.SIGKILL, "worker")], ids=["ctrl-c", "kill-9", "worker-kill-9"])
def test_an_interrupted_collection_keeps_its_episodes_and_resumes(tmp_path, sig, victim):
    out = tmp_path / "ds"
    # push and pick_place, not reach: episodes long enough that the signal lands before the run ends
    args = ["collect", "--out", str(out), "--tasks", "push,pick_place", "--episodes", "20", "--workers", "2",
            "--image-size", "32", "--flush-every", "2"]
    process = robostral_cli(*args, env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # SIGABRT dumps its threads
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until a first batch is on disk
        info = out / "meta/info.json"
        if info.exists() and json.loads(info.read_text())["total_episodes"] >= 2:
            break
        time.sleep(0.05)
    workers = _children(process.pid)
    if victim == "worker":
        spawned = [p for p in workers if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
        os.kill(spawned[0], sig)
    else:
        process.send_signal(sig)
    out_text, err_text = _communicate_or_explain(process, timeout=60)
    if victim == "worker":
        assert process.returncode == 1 and "a collection worker died (exit code -9); re-run to resume" in err_text
    elif sig == signal.SIGINT:
        assert process.returncode == 130, err_text
        assert "interrupted: every finished episode is saved" in out_text
    else:
        assert process.returncode == -signal.SIGKILL
    assert len(workers) >= 2 and _wait_gone(workers, 10) == []  # workers (and the spawn tracker) exit too

    ds = load_dataset(out)  # readable as it was left
    interrupted = keys(ds)
    assert 2 <= len(interrupted) < 40 and len(set(interrupted)) == len(interrupted)
    assert load_dataset(out).load_arrays(["observation.images.front"])["observation.images.front"].shape[0] == \
        ds.num_frames

    process = robostral_cli(*args)
    out_text, err_text = process.communicate(timeout=120)
    assert process.returncode == 0, err_text
    assert f"skipped {len(interrupted)} already present" in out_text
    ds = load_dataset(out)
    final = keys(ds)
    assert len(final) == len(set(final)) == 40
    assert set(final) == expected_keys(ds, ("push", "pick_place"), 20)
    assert final[: len(interrupted)] == interrupted  # kept as they were, new episodes appended
    assert len(ds.info["robostral"]["commands"]) == 1


def test_failed_expert_episodes_are_discarded_and_counted(tmp_path):
    """At randomization level 6 the push expert fails often; failed seeds are counted, listed and replaced."""
    out = tmp_path / "ds"
    process = robostral_cli("collect", "--out", str(out), "--tasks", "push", "--episodes", "2", "--workers", "2",
                            "--image-size", "32", "--level", "6")
    out_text, err_text = process.communicate(timeout=120)
    assert process.returncode == 0, err_text
    ds = load_dataset(out)
    discarded = ds.info["robostral"]["discarded"]["push"]
    assert discarded, "expected the push expert to fail at level 6"
    assert f"kept 2 episodes ({ds.num_frames} frames), discarded {len(discarded)} failed" in out_text
    assert set(keys(ds)) == expected_keys(ds, ("push",), 2)
    env = make_env("push", "panda", image_size=32, randomization={"level": 6.0})
    assert not any(run_expert_episode(env, seed).success for seed in discarded)

    # A task that keeps failing gives up after --max-failures and says so.
    process = robostral_cli("collect", "--out", str(tmp_path / "strict"), "--tasks", "push", "--episodes", "3",
                            "--workers", "2", "--image-size", "32", "--level", "6", "--max-failures", "1")
    out_text, err_text = process.communicate(timeout=120)
    assert process.returncode == 1, err_text
    assert "after 1 failed seeds per task" in out_text
    strict = load_dataset(tmp_path / "strict")
    short = int(out_text.split("incomplete: push short by ")[1].split()[0])
    assert strict.info["total_episodes"] + short == 3 and strict.info["robostral"]["discarded"]["push"]


def test_perturbed_demonstrations_record_the_experts_corrections():
    env = make_env("reach", "panda", image_size=0)
    clean = record_expert_episode(env, 1)  # seed 1's noise stream starts bursts within the episode
    perturbed = record_expert_episode(env, 1, perturbation=0.05)
    again = record_expert_episode(env, 1, perturbation=0.05)
    assert perturbed.result.success
    # Seeded: the same bursts every time, and the scene (instruction, randomization) is the clean run's.
    np.testing.assert_array_equal(np.stack(perturbed.actions), np.stack(again.actions))
    assert perturbed.result.instruction == clean.result.instruction and perturbed.randomization == clean.randomization
    # The arm went elsewhere than the clean run, and what was recorded is the expert's plan from there:
    # every recorded action is the IK target the expert chose, the executed (noisy) target is not stored.
    states = np.stack([o["proprio"] for o in perturbed.observations])
    clean_states = np.stack([o["proprio"] for o in clean.observations])
    steps = min(len(states), len(clean_states))
    assert np.abs(states[:steps] - clean_states[:steps]).max() > 0.02
    assert np.all(np.stack(perturbed.actions)[:, -1] == env.unwrapped.robot.gripper.open)
    # What the env executed differs from what was recorded only by the bursts: arm joints, one offset per burst.
    executed = ExecutedActions(make_env("reach", "panda", image_size=0))
    recorded = np.stack(record_expert_episode(executed, 1, perturbation=0.05).actions)
    offsets = np.stack(executed.actions) - recorded
    bursts = np.flatnonzero(np.abs(offsets).max(axis=1) > 0)
    assert len(bursts) and np.all(offsets[:, -1] == 0)
    assert len({tuple(np.round(offsets[i], 4)) for i in bursts}) < len(bursts)  # offsets held over a burst


class ExecutedActions(gym.Wrapper):
    """Keeps every action the env was stepped with."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actions: list[np.ndarray] = []

    def step(self, action):
        self.actions.append(np.asarray(action, dtype=np.float32))
        return super().step(action)


def test_collect_refuses_a_perturbation_out_of_range():
    with pytest.raises(ValueError, match="perturbation must be within"):
        CollectConfig(out="x", perturbation=2.0)
    assert "--perturbation 0.03" in CollectConfig(out="x", perturbation=0.03).command


def test_settle_steps_record_the_expert_holding_its_goal():
    env = make_env("reach", "panda", image_size=0)
    plain = record_expert_episode(env, 2)
    settled = record_expert_episode(env, 2, settle_steps=6)
    assert settled.result == plain.result  # same episode, same steps to success
    assert len(settled.actions) == len(plain.actions) + 6
    np.testing.assert_array_equal(np.stack(settled.actions[: len(plain.actions)]), np.stack(plain.actions))
    # Holding: the tool stays at the goal, the last targets barely move.
    assert np.abs(settled.actions[-1] - settled.actions[-2]).max() < 0.01
    assert env.unwrapped.task.is_success()


def test_chain_links_are_collected_one_per_episode(tmp_path):
    """``--tasks chain``: each seed's episode is one link of a chain (seed % 5 links done before it, unrecorded)."""
    out = tmp_path / "ds"
    assert main(["collect", "--out", str(out), "--tasks", "chain", "--episodes", "3", "--image-size", "32",
                 "--workers", "2", "--settle-steps", "2"]) == 0
    ds = load_dataset(out)
    assert set(keys(ds)) == expected_keys(ds, ("chain",), 3)
    assert ds.info["robostral"]["env_ids"] == {"chain": "robostral/Chain-v0"}
    episode = next(e for e in ds.episodes if e["seed"] == 2)  # link 3: a cube out of its bin into a free one
    recorded = record_expert_episode(make_env("chain", "panda", image_size=32), 2, settle_steps=2)
    frames = slice(episode["dataset_from_index"], episode["dataset_to_index"])
    arrays = ds.load_arrays()
    assert episode["tasks"] == [recorded.result.instruction] and recorded.result.success
    assert episode["length"] == recorded.result.steps + 2 == len(recorded.actions)
    np.testing.assert_array_equal(arrays["observation.images.front"][frames],
                                  np.stack([o["image"] for o in recorded.observations]))
    np.testing.assert_array_equal(arrays["action"][frames], np.stack(recorded.actions))
