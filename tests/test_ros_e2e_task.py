"""End to end: an instruction in, the task completed in the simulator through the ROS 2 graph, within a time bound.

`robostral up` with the released policy, `robostral instruct` from another process, real
DDS between them. Needs a policy that can do the task: the released one, not the tiny
test bundle.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from ros_helpers import ROOT, robostral_up, ros_env

POLICY = ROOT / "policies" / "robostral-s-panda"
INSTRUCTION = "reach the green target"  # the reach scene of seed 0 (launch/params/sim.yaml) has a green target
TIME_BOUND = 30.0  # s from the instruction to the simulator reporting success


def test_an_instruction_is_completed_in_the_simulator_through_the_graph(tmp_path):
    if not (POLICY / "card.yaml").exists():
        pytest.skip("policies/robostral-s-panda not shipped yet")
    with robostral_up(["--sim", "--policy", str(POLICY), "--task", "reach"], tmp_path / "up.log") as (graph, _):
        result = subprocess.run(
            [sys.executable, "-m", "robostral.cli", "instruct", INSTRUCTION, "--timeout", str(TIME_BOUND)],
            env=ros_env(graph.domain), capture_output=True, text=True, timeout=TIME_BOUND + 60,
        )
    assert result.returncode == 0, result.stdout + result.stderr + graph.output()[-3000:]
    assert f"'{INSTRUCTION}': done after" in result.stdout
