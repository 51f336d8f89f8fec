"""`robostral up` stops within a bounded time on SIGINT or SIGTERM, also after its nodes crashed and were
restarted, and also while it is bringing a restarted lifecycle node up (issue 18 item 11: it once hung); a
second signal, later, ends every node at once."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest
from ros_helpers import RosProcess, next_domain

from robostral.bundle.card import read_card

BOUND = 20.0  # s: the nodes' grace period (5 s) and their SIGKILL, with room for a busy machine


def up_command(pipeline, folder) -> list[str]:
    image_size = read_card(pipeline.bundle).image_size
    return [sys.executable, "-m", "robostral.cli", "up", "--sim", "--policy", str(pipeline.bundle), "--task", "reach",
            "--param", f"sim_driver.image_size={image_size}", "--param", "pendant.port=0",
            "--param", f"pendant.db={folder / 'pendant.db'}"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_up_stops_after_restarts_even_while_it_activates_a_restarted_node(pipeline, tmp_path, sig):
    graph = RosProcess(up_command(pipeline, tmp_path), next_domain(), tmp_path / "up.log")
    try:
        graph.wait_for_output("graph running", timeout=90)
        for node in ("policy_node", "sim_driver"):  # two crashes, two restarts
            log = len(graph.output())
            os.kill(graph.pid_of(node), signal.SIGKILL)
            graph.wait_for_output(f"{node} exited with status -9", timeout=10, after=log)
            graph.wait_for_output(f"started {node}", timeout=15, after=log)
        graph.wait_for_output("policy_node: active", timeout=60, after=log)
        log = len(graph.output())
        os.kill(graph.pid_of("policy_node"), signal.SIGKILL)  # and stop while its replacement is brought up
        graph.wait_for_output("started policy_node", timeout=15, after=log)
        asked = time.monotonic()
        graph.process.send_signal(sig)
        graph.process.wait(timeout=BOUND + 10)
        took = time.monotonic() - asked
        assert graph.process.returncode == 0, graph.output()[-3000:]
        assert took < BOUND, f"robostral up took {took:.1f} s to stop"
        assert graph.output().rstrip().endswith("robostral up: stopped")
    finally:
        graph.stop()  # fails if any of its processes was left behind


def test_a_second_signal_ends_every_node_at_once(pipeline, tmp_path):
    graph = RosProcess(up_command(pipeline, tmp_path), next_domain(), tmp_path / "up.log")
    try:
        graph.wait_for_output("graph running", timeout=90)
        os.kill(graph.pid_of("pendant"), signal.SIGSTOP)  # a node that does not stop: up would wait its grace
        graph.process.send_signal(signal.SIGTERM)
        graph.process.send_signal(signal.SIGTERM)  # the same request twice at once is still one request
        time.sleep(1.0)
        assert graph.process.poll() is None  # still waiting for the stopped node
        graph.process.send_signal(signal.SIGINT)  # the user insists
        assert graph.process.wait(timeout=5) == 128 + signal.SIGINT
    finally:
        graph.stop()  # fails if any of its processes was left behind
