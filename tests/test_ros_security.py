"""Access control on the graph (issue 18, item 12): what the PyPI Fast DDS allows, and the isolation that replaces it.

Real rclpy over real DDS, loopback only, a domain per test. The wheels have no DDS-Security
(docs/security.md), so these tests lock in: that this is still so (a canary: when it fails,
SROS2 enclaves became possible), that asking for security never starts an unsecured node,
that `robostral up` keeps discovery on loopback by default, and that the control network
profile binds every DDS socket to the addresses it names while the graph still talks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import ros_helpers
from ros_helpers import ROOT, Probe, RosProcess, free_port, next_domain, ros_env
from trajectory_msgs.msg import JointTrajectory

from robostral.ros import contract
from robostral.ros.security import (
    DEFAULT_DISCOVERY_RANGE,
    DISCOVERY_RANGE,
    ENCLAVE_PROBE,
    NO_SECURITY,
    dds_security_status,
    default_discovery_range,
    fastdds_profile,
)

# Publishes on the arm controller topic until killed (its domain and DDS settings come from the environment).
PUBLISHER = """
import time
import rclpy
from trajectory_msgs.msg import JointTrajectory
from robostral.ros import contract
rclpy.init(args=[])
node = rclpy.create_node("profile_publisher")
publisher = node.create_publisher(JointTrajectory, contract.ARM_TRAJECTORY, contract.CONTROLLER_QOS)
while True:
    publisher.publish(JointTrajectory(joint_names=["from_profile"]))
    time.sleep(0.2)
"""


def test_fastdds_wheels_have_no_dds_security() -> None:
    """Canary: the rmw refuses any enclave because Fast DDS was built without DDS-Security.

    When this fails, the wheels gained DDS-Security: build the SROS2 keystore and
    `robostral up --secure` of issue 18 item 12 (docs/security.md says how).
    """
    status = dds_security_status()
    assert not status.available, status.detail
    assert NO_SECURITY in status.detail, status.detail
    header = Path(sys.prefix) / "include" / "fastdds" / "config.hpp"
    if header.exists():  # the wheel's generated build configuration
        assert re.search(r"#define HAVE_SECURITY 0\b", header.read_text()), header


@pytest.mark.parametrize("enclave", ["supervisor", "missing"])
def test_enforced_security_never_starts_an_open_node(tmp_path: Path, enclave: str) -> None:
    """Under ROS_SECURITY_STRATEGY=Enforce a node is refused, enclave or not: security fails closed, never open."""
    if enclave == "supervisor":
        (tmp_path / "enclaves" / "robostral" / "supervisor").mkdir(parents=True)
    env = {**ros_env(next_domain()), "ROS_SECURITY_ENABLE": "true", "ROS_SECURITY_STRATEGY": "Enforce",
           "ROS_SECURITY_KEYSTORE": str(tmp_path)}
    env.pop("ROS_SECURITY_ENCLAVE_OVERRIDE", None)
    probe = ENCLAVE_PROBE.format(enclave="/robostral/supervisor")
    result = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    output = result.stdout + result.stderr
    assert "NODE STARTED" not in output, output
    expected = NO_SECURITY if enclave == "supervisor" else "does not exist"
    assert "REFUSED" in output and expected in output, output


def test_discovery_range_default_keeps_the_site_choice() -> None:
    """LOCALHOST where nothing (or an empty value) is set; a range the site chose stays."""
    for environ, expected in (({}, "LOCALHOST"), ({DISCOVERY_RANGE: ""}, "LOCALHOST"),
                              ({DISCOVERY_RANGE: "SUBNET"}, "SUBNET"),
                              ({DISCOVERY_RANGE: "SYSTEM_DEFAULT"}, "SYSTEM_DEFAULT")):
        assert default_discovery_range(environ) == expected
        assert environ[DISCOVERY_RANGE] == expected


@pytest.fixture
def environment(monkeypatch) -> dict[str, str]:
    """Variables that the processes RosProcess starts in this test get over ros_env's (fill it before starting)."""
    extra: dict[str, str] = {}
    original = ros_helpers.ros_env
    monkeypatch.setattr(ros_helpers, "ros_env", lambda domain: {**original(domain), **extra})
    return extra


def test_up_runs_the_graph_with_loopback_discovery_by_default(tmp_path: Path, environment: dict[str, str]) -> None:
    """`robostral up` started where the variable is empty: every node it starts runs with LOCALHOST.

    Should the default regress, the loopback profile in the environment still keeps every socket on loopback.
    """
    profile = tmp_path / "loopback.xml"
    profile.write_text(fastdds_profile())
    environment.update({DISCOVERY_RANGE: "", "FASTDDS_DEFAULT_PROFILES_FILE": str(profile)})
    log = tmp_path / "up.log"
    graph = RosProcess([sys.executable, "-m", "robostral.cli", "up", "--hardware",
                        "--param", f"pendant.port={free_port()}", "--param", f"pendant.db={tmp_path / 'pendant.db'}"],
                       next_domain(), log)
    try:
        graph.wait_for_output("graph running", timeout=180)
        # Its own /proc environ is what it was started with; the nodes' is what `up` gave them.
        pids = {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", graph.output())}
        assert {"safety_supervisor", "policy_node", "pendant"} <= set(pids), graph.output()
        for name, pid in pids.items():
            entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert f"{DISCOVERY_RANGE}={DEFAULT_DISCOVERY_RANGE}".encode() in entries, name
    finally:
        graph.stop(timeout=30)


def test_control_network_profile_binds_dds_to_loopback_and_the_graph_still_talks(
        tmp_path: Path, environment: dict[str, str]) -> None:
    """A node under the generated profile: every UDP socket on 127.0.0.1, and a LOCALHOST-range node hears it."""
    profile = tmp_path / "loopback.xml"
    profile.write_text(fastdds_profile())
    domain = next_domain()
    probe = Probe(domain)
    publisher = None
    try:
        arm = probe.record(contract.ARM_TRAJECTORY, JointTrajectory, contract.CONTROLLER_QOS)
        environment.update({DISCOVERY_RANGE: "SYSTEM_DEFAULT", "FASTDDS_DEFAULT_PROFILES_FILE": str(profile)})
        publisher = RosProcess([sys.executable, "-c", PUBLISHER], domain, tmp_path / "publisher.log")
        arm.wait_for(lambda msg: msg.joint_names == ["from_profile"], timeout=90, what="the profile node's trajectory")
        sockets = _udp_sockets(publisher.process.pid)
        assert sockets, "the publisher has no UDP socket"
        assert all(address == "127.0.0.1" for address, _ in sockets), sockets
    finally:
        probe.close()
        if publisher is not None:
            publisher.stop()


def _udp_sockets(pid: int) -> list[tuple[str, int]]:
    """(local address, port) of every UDP socket (IPv4 and IPv6) that process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    sockets = []
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                address, port = fields[1].split(":")
                sockets.append((_address(address), int(port, 16)))
    return sockets


def _address(hexadecimal: str) -> str:
    """/proc/net/udp's little-endian hex address as text (IPv6 as hex, never equal to 127.0.0.1)."""
    if len(hexadecimal) == 8:
        return ".".join(str(int(hexadecimal[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return hexadecimal
