"""`robostral eval --controller`: a bundle's targets through the supervisor's checks and a controller, as on a cell."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robostral.cli import main
from robostral.evaluation import EVAL_SEED_BASE, evaluate_episodes
from robostral.evaluation.actors import PolicyActor
from robostral.evaluation.supervised import SupervisedActor
from robostral.runtime import PolicyRuntime
from sim.rollout import make_env


@pytest.mark.parametrize("smooth", [False, True])
def test_each_step_sends_the_arm_where_the_supervised_controller_will_be(pipeline, smooth):
    runtime = PolicyRuntime(pipeline.bundle)
    env = make_env("reach", "panda", image_size=runtime.image_shape[0], control_hz=int(runtime.control_hz))
    try:
        actor = SupervisedActor(PolicyActor(runtime, 1), [env], "panda", runtime.control_hz, smooth=smooth)
        observation, _ = env.reset(seed=EVAL_SEED_BASE)
        actor.reset(0)
        targets = []
        for step in range(12):
            (target,) = actor.act([observation])
            motion = actor.motions[0]
            expected = motion.at(actor.clocks[0], fallback=env.unwrapped.robot.joint_positions()).positions
            assert np.allclose(target, expected, atol=1e-6)  # where the controller is one period on
            assert actor.clocks[0] == pytest.approx((step + 1) / runtime.control_hz)
            targets.append(target)
            observation, *_ = env.step(target)
        assert actor.rejected == 0
        assert np.ptp(np.array(targets)[:, :7], axis=0).max() > 1e-3  # the arm was driven
        if smooth:  # the commanded motion carries velocities and accelerations: the plan's, not a line's
            knots = [k for k in actor.motions[0].knots if k is not None]
            assert knots and all(k.velocities is not None and k.accelerations is not None for k in knots)
    finally:
        env.close()


def test_the_controllers_run_the_same_seeds_reproducibly(pipeline):
    runtime = PolicyRuntime(pipeline.bundle)
    seeds = [EVAL_SEED_BASE + 3, EVAL_SEED_BASE + 4]
    first = evaluate_episodes(runtime, "reach", "panda", seeds, batch_size=2, controller="smooth")
    again = evaluate_episodes(runtime, "reach", "panda", seeds, batch_size=2, controller="smooth")
    assert [r.as_dict() for r in first] == [r.as_dict() for r in again]
    with pytest.raises(ValueError, match="controller must be one of direct, linear, smooth"):
        evaluate_episodes(runtime, "reach", "panda", seeds, controller="teleport")


def test_eval_names_its_controller_leaves_the_card_and_compare_pairs_two_controllers(pipeline, tmp_path, capsys):
    card = (pipeline.bundle / "card.yaml").read_bytes()
    common = ["--task", "reach", "--episodes", "2", "--heldout-episodes", "0", "--chains", "0", "--videos", "0"]
    for controller in ("linear", "smooth"):
        out = tmp_path / controller
        assert main(["eval", "--policy", str(pipeline.bundle), *common, "--controller", controller,
                     "--out", str(out)]) in (0, 1)  # 1: the tiny policy fails the gate
        assert f"card left unchanged: its evaluation is the direct controller's, this ran {controller}" in (
            capsys.readouterr().out)
        assert json.loads((out / "report.json").read_text())["controller"] == controller
    assert "its jerk-limited plans" in (tmp_path / "smooth" / "report.md").read_text()
    assert (pipeline.bundle / "card.yaml").read_bytes() == card
    assert main(["compare", str(tmp_path / "linear"), str(tmp_path / "smooth")]) == 0
    printed = capsys.readouterr().out
    assert "controller linear" in printed and "controller smooth" in printed
