"""`robostral policies deploy`: the running policy node switched to another bundle through its lifecycle; a bundle
that would be refused never stops the one it runs, and one the node refuses after all gives the old one back."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from conftest import copy_bundle
from lifecycle_msgs.msg import Transition
from rcl_interfaces.srv import GetParameters
from rclpy.parameter import parameter_value_to_python
from ros_helpers import ROOT, Probe, RosProcess, next_domain, ros_env

from robostral.bundle.card import POLICY_FILE, read_card, sha256_file, write_card


@pytest.fixture
def node(pipeline, tmp_path):
    """A policy node running the pipeline's bundle, active, on a domain of its own; and a probe beside it."""
    domain = next_domain()
    process = RosProcess.node("policy_node", {"bundle": pipeline.bundle}, domain, tmp_path / "node.log")
    probe = Probe(domain)
    try:
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert probe.transition("policy_node", transition).success, process.output()
        yield domain, probe, process
    finally:
        probe.close()
        process.stop(timeout=10)


def deploy(domain: int, bundle) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robostral.cli", "policies", "deploy", str(bundle)], cwd=ROOT,
                          env=ros_env(domain), capture_output=True, text=True, timeout=120)


def running(probe: Probe) -> tuple[str, str]:
    answer = probe.call("/policy_node/get_parameters", GetParameters, GetParameters.Request(names=["bundle"]))
    return probe.state("policy_node"), str(parameter_value_to_python(answer.values[0]))


def test_a_bundle_is_deployed_and_one_that_fails_leaves_the_running_one(node, pipeline, tmp_path):
    domain, probe, process = node
    other = copy_bundle(pipeline.bundle, tmp_path / "other")
    done = deploy(domain, other)
    assert done.returncode == 0, done.stdout + done.stderr
    assert running(probe) == ("active", str(other.resolve()))
    assert f"runs {other} (before: {pipeline.bundle})" in done.stdout

    tampered = copy_bundle(pipeline.bundle, tmp_path / "tampered")
    (tampered / POLICY_FILE).write_bytes(b"not a graph")
    done = deploy(domain, tampered)  # refused here, before the node is touched
    assert done.returncode == 2 and "tampered or corrupt" in done.stderr, done.stdout + done.stderr
    assert running(probe) == ("active", str(other.resolve()))

    card = read_card(tampered)  # hashes that match: only the node, loading it, finds it is no graph
    write_card(tampered, dataclasses.replace(card, files={**card.files, POLICY_FILE: sha256_file(tampered /
                                                                                                  POLICY_FILE)}))
    done = deploy(domain, tampered)
    assert done.returncode == 1 and f"refused {tampered.resolve()}" in done.stderr, done.stdout + done.stderr
    assert f"it runs {other.resolve()} again" in done.stderr
    assert running(probe) == ("active", str(other.resolve()))
    assert process.process.poll() is None
