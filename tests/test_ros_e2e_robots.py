"""`robostral up --sim --robot ur5`: the graph on another arm, from its description alone, the pendant's jog included.

The shipped bundle drives a Panda, so the graph runs without a policy; the sim driver simulates the UR5, the
supervisor checks against its limits, kinematics and workspace, and a jog through the pendant's web API moves it.
"""

from __future__ import annotations

import math
import time

import httpx
import numpy as np
import pendant_browser
from ros_helpers import free_port, robostral_up, wait_until
from sensor_msgs.msg import JointState

from robostral.ros import contract
from robots import load_robot

PASSWORD = "a long enough test password"


def test_up_brings_a_ur5_cell_up_from_its_description_and_the_pendant_jogs_it(tmp_path):
    ur5 = load_robot("ur5")
    port = free_port()
    arguments = ["--sim", "--robot", "ur5", "--task", "reach", "--param", "sim_driver.image_size=32",
                 "--param", "sim_driver.wrist_camera=false", "--param", "sim_driver.randomization_level=0.0",
                 "--param", f"pendant.port={port}", "--param", f"pendant.db={tmp_path / 'pendant.db'}"]
    with robostral_up(arguments, tmp_path / "up.log") as (graph, probe):
        assert "drives a panda, not the ur5: the graph runs without policy_node" in graph.output()
        assert "started policy_node" not in graph.output()
        states = probe.record(contract.JOINT_STATES, JointState, contract.JOINT_STATES_QOS)
        _, first = states.wait_for(timeout=30, what="the UR5's joint states")
        assert tuple(first.name) == ur5.joint_names
        np.testing.assert_allclose(first.position, ur5.home_positions, atol=0.02)

        base = f"http://127.0.0.1:{port}"
        pendant_browser.wait_for_pendant(base)
        with httpx.Client(base_url=base, headers={"Origin": base}, timeout=10.0) as client:
            admin = client.post("/api/setup", json={"name": "admin", "password": PASSWORD})
            assert admin.status_code == 201, admin.text
            client.headers["X-CSRF-Token"] = admin.json()["csrf_token"]
            # As an operator does: jog once the pendant shows the arm (its own joint-state subscription has matched
            # the driver's publisher, which a busy machine can make take a while after the page answers).
            wait_until(lambda: ((joints := client.get("/api/state").json()["joints"]) or {}).get("valid")
                       and joints["age"] < 0.2, 30, "the arm's fresh, valid joint state on /api/state")
            start = np.array(states.latest().position)
            jog = client.post("/api/jog", json={"mode": "joint", "axis": 0, "direction": 1, "step": 5})
            assert jog.status_code == 200, jog.text
        _, moved = states.wait_for(lambda m: m.position[0] - start[0] > math.radians(4.9), timeout=20,
                                after=time.monotonic() - 1, what="shoulder_pan_joint jogged by 5 degrees")
        assert abs(moved.position[0] - start[0] - math.radians(5)) < math.radians(0.5)
        assert np.abs(np.array(moved.position[1:6]) - start[1:6]).max() < 0.01  # one joint, the others held
