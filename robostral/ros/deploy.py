"""Deploy a bundle to the running policy node through its lifecycle, or leave the one it runs in place.

The bundle is verified here first (every sha256, and the signature where keys are trusted): one that
would be refused never stops the running policy. Then the node is deactivated and cleaned up, its
``bundle`` parameter set, and configured (which verifies and loads the bundle again, on its side) and
activated. If configure refuses the new bundle after all, the old one is configured and activated
again, and the deploy fails saying so. While the node is inactive it commands nothing, and the safety
supervisor's watchdog holds the arm.

What `robostral policies deploy` and `robostral finetune --deploy` run.
"""

from __future__ import annotations

import time
from pathlib import Path

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter, parameter_value_to_python

from robostral.bundle.verify import verify_bundle

POLICY_NODE = "policy_node"
ASK_PERIOD = 1.0  # s between asks of a node's lifecycle state until it answers


class DeployError(RuntimeError):
    """The bundle was not deployed; the message says what runs instead."""


class _Lifecycle:
    """Calls to one lifecycle node's services from a short-lived client node."""

    def __init__(self, node: rclpy.node.Node, target: str, timeout: float) -> None:
        self.node, self.target, self.timeout = node, target, timeout
        # change_state first: once the target has answered get_state, it knows where change_state's answers go
        # (the order a node discovers another's endpoints in; see robostral/ros/up.py's activate).
        self.change = node.create_client(ChangeState, f"/{target}/change_state")
        self.get = node.create_client(GetState, f"/{target}/get_state")
        self.get_parameters = node.create_client(GetParameters, f"/{target}/get_parameters")
        self.set_parameters = node.create_client(SetParameters, f"/{target}/set_parameters")

    def state(self) -> str:
        """The target's lifecycle state, asked until it answers; DeployError when it never does."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            answer = self._call(self.get, GetState.Request(), ASK_PERIOD)
            if answer is not None:
                return answer.current_state.label
        raise DeployError(f"{self.target} does not answer (is the graph up, in this ROS_DOMAIN_ID?); nothing changed")

    def transition(self, transition: int) -> bool:
        answer = self._call(self.change, ChangeState.Request(transition=Transition(id=transition)), self.timeout)
        return answer is not None and answer.success

    def bundle(self) -> str:
        answer = self._call(self.get_parameters, GetParameters.Request(names=["bundle"]), self.timeout)
        if answer is None:
            raise DeployError(f"{self.target} does not say which bundle it runs; nothing changed")
        return str(parameter_value_to_python(answer.values[0]))

    def set_bundle(self, bundle: str) -> None:
        request = SetParameters.Request(parameters=[Parameter("bundle", value=bundle).to_parameter_msg()])
        answer = self._call(self.set_parameters, request, self.timeout)
        if answer is None or not answer.results[0].successful:
            raise DeployError(f"{self.target} refused bundle = {bundle!r}; it is unconfigured: deploy again")

    def _call(self, client, request, timeout: float):
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=max(0.0, deadline - time.monotonic()))
        return future.result() if future.done() else None


def deploy(bundle: str | Path, target: str = POLICY_NODE, timeout: float = 30.0) -> str:
    """Make ``target`` run ``bundle`` (an absolute path is sent); the bundle it ran before. DeployError otherwise."""
    bundle = str(Path(bundle).resolve())
    verify_bundle(bundle)  # BundleError: refused before the running policy is touched
    rclpy.init()
    node = rclpy.create_node("robostral_deploy")
    try:
        lifecycle = _Lifecycle(node, target, timeout)
        state = lifecycle.state()
        previous = lifecycle.bundle()
        if state == "active" and not lifecycle.transition(Transition.TRANSITION_DEACTIVATE):
            raise DeployError(f"{target} did not deactivate; it still runs {previous}")
        if state in ("active", "inactive") and not lifecycle.transition(Transition.TRANSITION_CLEANUP):
            raise DeployError(f"{target} did not clean up; it is inactive with {previous}: deploy again")
        lifecycle.set_bundle(bundle)
        if lifecycle.transition(Transition.TRANSITION_CONFIGURE):
            if lifecycle.transition(Transition.TRANSITION_ACTIVATE):
                return previous
            raise DeployError(f"{target} configured {bundle} but did not activate (see its log): it commands nothing")
        lifecycle.set_bundle(previous)  # refused on the node's side: the old bundle back
        restored = lifecycle.transition(Transition.TRANSITION_CONFIGURE) and lifecycle.transition(
            Transition.TRANSITION_ACTIVATE)
        raise DeployError(f"{target} refused {bundle} (see its log); "
                          + (f"it runs {previous} again" if restored else f"{previous} did not come back either: "
                             "it commands nothing"))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
