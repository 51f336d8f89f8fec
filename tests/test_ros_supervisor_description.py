"""Hardware bring-up: the supervisor takes its kinematics from the cell's served URDF, but only one that matches.

A real UR5 cell's robot_state_publisher serves the arm's URDF on /robot_description (latched). The supervisor,
configured for the UR5 description, refuses a reset until that URDF has arrived and matched; a URDF whose elbow
sits 5 cm off, or that widens a joint's range, is a fault with the reason, and no reset clears it.
"""

from __future__ import annotations

import pytest
from ros_helpers import Probe, RosProcess, next_domain, wait_until
from std_msgs.msg import String
from std_srvs.srv import Trigger

from robostral.ros import contract
from robots import load_robot

ELBOW = 'xyz="0.0 -0.1197 0.425"'  # the elbow joint's origin in the UR5's URDF


@pytest.fixture(scope="module")
def ur5_urdf() -> str:
    urdf = load_robot("ur5").urdf_sources[0].read_text()  # the arm alone: a gripper may be described apart
    assert ELBOW in urdf
    return urdf


def reset_until(probe: Probe, predicate, what: str) -> Trigger.Response:
    """Ask for a reset until the answer satisfies ``predicate`` (the served URDF arrives asynchronously)."""
    answers = []

    def answered():
        answers.append(probe.call(contract.RESET, Trigger))
        return predicate(answers[-1])

    wait_until(answered, 20, what, seen=lambda: answers[-1].message if answers else "no answer")
    return answers[-1]


@pytest.mark.parametrize("change,reason", [
    (None, None),
    ((ELBOW, 'xyz="0.0 -0.1197 0.475"'), "the frame before elbow_joint differs by 50.00 mm"),
    (('lower="-3.14159265359" upper="3.14159265359"', 'lower="-3.0" upper="3.14159265359"'),
     "elbow_joint: lower limit -3.0 does not contain the description's -3.14159265359"),
])
def test_the_served_urdf_is_the_kinematics_once_it_matches_and_a_mismatch_is_refused(tmp_path, ur5_urdf, change,
                                                                                      reason):
    domain = next_domain()
    supervisor = RosProcess.node("supervisor", {"robot": "ur5", "robot_description_topic": contract.ROBOT_DESCRIPTION},
                                 domain, tmp_path / "supervisor.log", name="safety_supervisor")
    probe = Probe(domain)
    try:
        supervisor.wait_for_output("latched until an engineer's reset", timeout=60)
        waiting = probe.call(contract.RESET, Trigger)
        assert not waiting.success and "waiting for the robot description on /robot_description" in waiting.message
        urdf = ur5_urdf if change is None else ur5_urdf.replace(*change)
        probe.publisher(contract.ROBOT_DESCRIPTION, String, contract.LATCHED_QOS).publish(String(data=urdf))
        if reason is None:
            answer = reset_until(probe, lambda a: a.success, "a reset once the URDF matched")
            assert answer.message == "fault -> idle"
            supervisor.wait_for_output("kinematics from the served robot description: it matches", timeout=10)
        else:
            answer = reset_until(probe, lambda a: "refused" in a.message, "the mismatch as the reset's answer")
            assert not answer.success and reason in answer.message
            assert not probe.call(contract.RESET, Trigger).success  # and it stays refused
    finally:
        probe.close()
        supervisor.stop()
