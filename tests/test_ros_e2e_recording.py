"""End to end: a run recorded by `robostral up --record` becomes a dataset `robostral train` accepts (the flywheel).

Real processes over real DDS: the simulated cell with the tiny test policy and the
recorder; two instructions, one episode each; then `robostral dataset from-bag` and a
2-step `robostral train` on the result.
"""

from __future__ import annotations

import dataclasses
import json
import time

import yaml
from conftest import tiny_train_config
from ros_helpers import robostral_up, wait_for_diagnostic
from std_msgs.msg import String

from robostral.bundle.card import read_card
from robostral.cli import main
from robostral.data import load_dataset
from robostral.ros import contract
from robostral.training.checkpoint import latest_checkpoint

INSTRUCTIONS = ("reach the green target", "reach the blue target")
SECONDS_EACH = 2.0  # s of commanding per instruction
RATE = 20  # Hz, the sim's control rate


def test_a_recorded_run_becomes_a_dataset_that_robostral_train_accepts(pipeline, tmp_path, capsys):
    image_size = read_card(pipeline.bundle).image_size
    recording = tmp_path / "recording"
    arguments = ["--sim", "--policy", str(pipeline.bundle), "--task", "reach", "--record",
                 "--param", f"sim_driver.image_size={image_size}", "--param", f"recorder.output={recording}"]
    with robostral_up(arguments, tmp_path / "up.log") as (graph, probe):
        diagnostics = probe.record_diagnostics()
        # every subscriber matched before the first instruction: the policy node, the sim driver, the pendant's
        # bridge and the recorder (with 3, a CI run recorded only the second: the recorder had matched late and
        # was handed the latched last instruction)
        instruction = probe.publisher(contract.INSTRUCTION, String, contract.LATCHED_QOS, subscribers=4)
        for topic in (contract.CAMERA_IMAGE, contract.JOINT_STATES, contract.INSTRUCTION, contract.ARM_TRAJECTORY):
            graph.wait_for_output(f"recording {topic} (", timeout=10)  # the recorder subscribed to what from-bag needs
        for text in INSTRUCTIONS:
            sent = time.monotonic()
            instruction.publish(String(data=text))
            wait_for_diagnostic(diagnostics, "policy_node", f"commanding: {text}", after=sent)
            # and the supervisor forwarding them (on a loaded machine it can start late): frames before the
            # first forwarded command have nothing to learn from, and the first episode would be lost
            wait_for_diagnostic(diagnostics, "safety_supervisor", "state=active", timeout=30, after=sent)
            time.sleep(SECONDS_EACH)
    # stopped: the recorder finished its files

    dataset = tmp_path / "dataset"
    # --max-gap above the default: a camera stall of the loaded test machine must not split an instruction's episode
    (run,) = recording.iterdir()  # one folder per run, named as rosbag2 names them
    assert run.name.startswith("robostral_")
    assert main(["dataset", "from-bag", str(run), "--out", str(dataset), "--robot", "panda",
                 "--max-gap", "3"]) == 0
    assert "added 2 episodes" in capsys.readouterr().out
    data = load_dataset(dataset)
    assert set(data.tasks) == set(INSTRUCTIONS)
    assert all(e["length"] >= 0.8 * SECONDS_EACH * RATE for e in data.episodes)

    config = tiny_train_config(dataset, tmp_path / "train", steps=2, log_every=1, eval_every=2, checkpoint_every=2,
                               val_fraction=0.5)
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(config)))))
    assert main(["train", "--config", str(config_file)]) == 0
    assert latest_checkpoint(tmp_path / "train").name == "step-0000002"
