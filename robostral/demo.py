"""`make demo`: the deployed policy drives the simulated arm through the ROS 2 graph.

Brings up the sim graph (`robostral up`: sim_driver, safety_supervisor, policy_node
with the default policy), then for each task switches the scene (and, as the cell's
engineer, resets the supervisor, which latches on the arm's jump home), sends the scene's
instruction on /robostral/instruction, waits for the simulator's verdict and prints
it with the policy's latency figures; the sim driver films everything into
``runs/demo/policy.mp4``. Shuts the graph down at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from std_msgs.msg import String
from std_srvs.srv import Trigger

from robostral.ros import contract
from robostral.ros.instruct import instruct
from robostral.ros.messages import diagnostic_values
from robostral.ros.policy_node import CONFIGURE_FAILED
from sim.tasks import TASKS

DEFAULT_POLICY = "policies/robostral-s-panda"
EPISODE_SECONDS = {"reach": 6.0, "push": 12.0, "pick_place": 15.0, "stack": 15.0}  # waiting budget per task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=DEFAULT_POLICY, help="policy bundle")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks, one instruction each")
    parser.add_argument("--seed", type=int, default=10_000_000, help="scene seed (held out from training)")
    parser.add_argument("--out", default="runs/demo", help="output folder for the video")
    args = parser.parse_args(argv)
    if not Path(args.policy, "card.yaml").exists():
        print(f"demo: no policy bundle at {args.policy}", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", "42")
    video = Path(args.out, "policy.mp4").resolve()
    video.parent.mkdir(parents=True, exist_ok=True)
    tasks = args.tasks.split(",")
    graph = subprocess.Popen([
        sys.executable, "-m", "robostral.cli", "up", "--sim", "--policy", args.policy, "--task", tasks[0],
        "--param", f"sim_driver.seed={args.seed}", "--param", f"sim_driver.video={video}",
    ])
    rclpy.init(args=[])
    node = rclpy.create_node("robostral_demo")
    try:
        cell = Cell(node)
        results = [cell.run(task) for task in tasks]
    except RuntimeError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.shutdown()
        graph.send_signal(signal.SIGINT)
        graph.wait(timeout=30)
    print(f"\n{'task':<12}{'result':<10}{'seconds':>8}  instruction")
    for task, outcome in results:
        verdict = "done" if outcome.success else "NOT done"
        print(f"{task:<12}{verdict:<10}{outcome.seconds:>8.1f}  {outcome.instruction}")
    latency = {k: v for k, v in results[-1][1].policy.items() if k.endswith("_ms")}
    print("policy node latency (ms): " + ", ".join(f"{k[:-3]} {v}" for k, v in sorted(latency.items())))
    print(f"{sum(o.success for _, o in results)}/{len(results)} instructions done; video {video}")
    return 0


class Cell:
    """The demo's handle on the running graph: switch scenes, read the driver's report, instruct."""

    def __init__(self, node) -> None:
        self.node = node
        self.status: dict[str, str] = {}  # the sim driver's last report
        self.messages: dict[str, str] = {}  # node -> its last diagnostic message
        node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS, self.on_diagnostics, contract.DIAGNOSTICS_QOS)
        self.instruction = node.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS)
        self.reset = node.create_client(Trigger, contract.SIM_RESET)
        self.release = node.create_client(Trigger, contract.RESET)
        self.parameters = node.create_client(SetParameters, "/sim_driver/set_parameters")
        self.wait(self.ready, 120, "the graph to come up")

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for entry in msg.status:
            self.messages[entry.name] = entry.message
            if entry.name == "sim_driver":
                self.status.update(diagnostic_values(entry))

    def ready(self) -> bool:
        """The driver reports, the policy node is past configure (active: waiting or commanding) and the
        supervisor's start latch is released (`up` does both, slowly on a busy machine); RuntimeError if the
        policy node refused its bundle: a demo without a policy shows nothing."""
        policy = self.messages.get("policy_node", "")
        if policy.startswith(CONFIGURE_FAILED):
            raise RuntimeError(f"the policy node did not configure: {policy}")
        return bool(self.status) and policy not in ("", "unconfigured", "configured") and self.supervisor_free()

    def supervisor_free(self) -> bool:
        """The supervisor lets commands through or holds the arm: neither latched nor e-stopped."""
        return self.messages.get("safety_supervisor", "").split(":")[0] in ("idle", "active", "holding")

    def run(self, task: str):
        """A new scene of ``task``; its own instruction sent; the outcome."""
        self.instruction.publish(String(data=""))  # hold while the scene changes
        # The policy's last chunk runs out and the supervisor's watchdog brakes it: only then is the scene
        # replaced (a stop planned from the old scene's motion would otherwise pull the arm back there).
        self.wait(lambda: self.messages.get("safety_supervisor", "").split(":")[0] in ("idle", "holding"), 10,
                  "the supervisor to hold the arm")
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=task)
        self.call(self.parameters, SetParameters.Request(parameters=[Parameter(name="task", value=value)]))
        seed = self.status.get("seed")
        self.call(self.reset, Trigger.Request())
        self.wait(lambda: self.status.get("seed") != seed and self.status.get("task") == task, 10, "the new scene")
        # A new scene puts the arm home at once, a jump no real arm makes: the supervisor latches a fault on it,
        # and the demo, the cell's engineer here, resets it (a reset before it hears of the jump re-bases it
        # on the new scene instead). The pause lets the jump's joint states reach it first.
        time.sleep(0.5)
        self.call(self.release, Trigger.Request())
        text = self.status["scene_instruction"]
        print(f"{task}: {text!r}", flush=True)
        return task, instruct(text, EPISODE_SECONDS[task], self.node)

    def call(self, client, request):
        if not client.wait_for_service(timeout_sec=30):
            raise RuntimeError(f"{client.srv_name} is not available")
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=30)
        return future.result()

    def wait(self, condition, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            rclpy.spin_once(self.node, timeout_sec=0.1)


if __name__ == "__main__":
    sys.exit(main())
