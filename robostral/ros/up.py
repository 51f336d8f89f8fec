"""``robostral up``: start a bring-up graph where no ROS 2 distro (and so no ``ros2 launch``) is installed.

Each node runs in its own process with the graph's parameter file and topic remaps; lifecycle nodes
are driven to active through their standard ``change_state`` services; a node that
dies is reported and restarted with exponential backoff (lifecycle nodes driven to
active again). The safety supervisor starts latched after any (re)start: for a
simulated cell (the graph's ``release_latch``) ``up`` resets it once at first start, never
after a restart, which it reports. SIGINT/SIGTERM stops every node (SIGTERM, then SIGKILL
after a grace period) and returns within a bounded time, whatever it was waiting for;
a second signal ends every node at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from std_srvs.srv import Trigger

from robostral.ros import contract
from robostral.ros.graph import Graph, NodeSpec
from robostral.ros.remaps import NO_REMAPS, Remaps

BACKOFF = (1.0, 2.0, 4.0, 8.0)  # s before restarts 1, 2, 3, 4+ of one node
HEALTHY_AFTER = 30.0  # s of running that resets a node's backoff
STOP_GRACE = 5.0  # s between SIGTERM and SIGKILL at shutdown
TRANSITION_TIMEOUT = 30.0  # s for a lifecycle transition (configure loads and verifies the bundle)
ASK_PERIOD = 0.5  # s between get_state requests to a node that has not answered yet
SPIN_SLICE = 0.1  # s: every wait looks at the stop request at least this often
INSIST_AFTER = 0.5  # s: a second stop signal later than this after the first ends every node at once


@dataclass
class NodeProcess:
    spec: NodeSpec
    command: list[str]
    process: subprocess.Popen | None = None
    started: float = 0.0
    restarts: int = 0
    restart_at: float | None = None  # when a dead node is due to start again
    log: list[str] = field(default_factory=list)


def node_command(spec: NodeSpec, graph: Graph, overrides: dict[str, str], remaps: Remaps = NO_REMAPS) -> list[str]:
    """The process command line for one node: this Python, its module, the graph's parameters and remaps."""
    words = [sys.executable, "-m", f"robostral.ros.{spec.module}", "--ros-args",
             "-r", f"__node:={spec.name}", *remaps.ros_arguments(), "--params-file", str(graph.parameters)]
    for key, value in overrides.items():
        node, _, parameter = key.partition(".")
        if node == spec.name:
            words += ["-p", f"{parameter}:={value}"]
    return words


class Bringup:
    """The running graph: start, watch, restart, stop. ``say`` receives every status line."""

    def __init__(self, graph: Graph, nodes: Sequence[NodeSpec], overrides: dict[str, str],
                 say: Callable[[str], None] = print, remaps: Remaps = NO_REMAPS) -> None:
        self.graph = graph
        self.say = say
        self.remaps = remaps
        self.nodes = [NodeProcess(spec, node_command(spec, graph, overrides, remaps)) for spec in nodes]
        self.stopping = False
        self.stop_asked = 0.0  # monotonic s of the first stop signal
        rclpy.init(args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.client_node = rclpy.create_node("robostral_up")

    def run(self) -> int:
        """Start everything, then watch until SIGINT/SIGTERM; returns the exit status."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.remaps.pairs:
                self.say(f"the cell's topics (launch/graph.yaml {self.graph.name} remap): {self.remaps.describe()}")
            for node in self.nodes:
                self.start(node)
            if self.graph.release_latch:  # before the policy is active: nothing commands the arm yet
                self.release_latches()
            for node in self.nodes:
                if node.spec.lifecycle:
                    self.activate(node)
            self.say(f"robostral up: {self.graph.name} graph running ({', '.join(n.spec.name for n in self.nodes)})"
                     "; Ctrl-C stops it")
            while not self.stopping:
                self.watch()
                time.sleep(0.1)
            return 0
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start(self, node: NodeProcess) -> None:
        node.process = subprocess.Popen(node.command, start_new_session=True)  # Ctrl-C reaches `up` only
        node.started, node.restart_at = time.monotonic(), None
        self.say(f"started {node.spec.name} (pid {node.process.pid})")

    def watch(self) -> None:
        """Restart nodes that died, after their backoff."""
        now = time.monotonic()
        for node in self.nodes:
            if node.process is not None and node.process.poll() is not None and node.restart_at is None:
                if now - node.started > HEALTHY_AFTER:
                    node.restarts = 0
                delay = BACKOFF[min(node.restarts, len(BACKOFF) - 1)]
                node.restart_at = now + delay
                self.say(f"{node.spec.name} exited with status {node.process.returncode}; "
                         f"restarting in {delay:g} s (restart {node.restarts + 1})")
            if node.restart_at is not None and now >= node.restart_at and not self.stopping:
                node.restarts += 1
                self.start(node)
                if node.spec.latches:
                    self.say(f"{node.spec.name} restarted: it is latched until an engineer's reset "
                             f"({contract.RESET}); the arm holds")
                if node.spec.lifecycle:
                    self.activate(node)

    def release_latches(self) -> None:
        """Reset each latching node once (a simulated cell at first start); said either way."""
        for node in self.nodes:
            if node.spec.latches:
                client = self.client_node.create_client(Trigger, contract.RESET)
                answer = self.call(client, Trigger.Request())
                self.client_node.destroy_client(client)
                if answer is not None and answer.success:
                    self.say(f"{node.spec.name}: latch released at start ({answer.message}): a simulated cell")
                else:
                    self.say(f"{node.spec.name}: could not release its start latch; reset it ({contract.RESET})")

    def activate(self, node: NodeProcess) -> bool:
        """configure then activate a lifecycle node once it answers; False (and said why) when that fails.

        The change_state client is made before the node is first asked its state: the node learns of
        this process's endpoints in the order they were made, so once it has answered get_state it also
        knows where to send change_state's answers (a service drops an answer to a reader it has not
        yet discovered, which a busy machine can make take longer than Fast DDS waits for it).
        """
        client = self.client_node.create_client(ChangeState, f"/{node.spec.name}/change_state")
        try:
            if not self.lifecycle_state(node.spec.name):
                self.say(f"{node.spec.name}: its lifecycle services do not answer; it stays unconfigured")
                return False
            for transition, label in ((Transition.TRANSITION_CONFIGURE, "configure"),
                                      (Transition.TRANSITION_ACTIVATE, "activate")):
                answer = self.call(client, ChangeState.Request(transition=Transition(id=transition)))
                if answer is None or not answer.success:
                    self.say(f"{node.spec.name}: {label} failed (see its log); it stays inactive")
                    return False
        finally:
            self.client_node.destroy_client(client)
        self.say(f"{node.spec.name}: active")
        return True

    def call(self, client, request, timeout: float = TRANSITION_TIMEOUT):
        """The answer of ``client``'s service to ``request``, or None when it does not answer within
        ``timeout`` s or a stop was requested meanwhile."""
        deadline = time.monotonic() + timeout
        while not client.wait_for_service(timeout_sec=SPIN_SLICE):
            if time.monotonic() > deadline or self.stopping:
                return None
        future = client.call_async(request)
        while not future.done() and time.monotonic() < deadline and not self.stopping:
            rclpy.spin_until_future_complete(self.client_node, future, timeout_sec=SPIN_SLICE)
        return future.result() if future.done() else None

    def lifecycle_state(self, name: str) -> str:
        """The node's lifecycle state label, asked every ASK_PERIOD until it answers ('' if it never does).

        A restarted node's killed predecessor still looks available to DDS until its lease
        expires, and a request that only the dead one matched is lost: so one unanswered
        request is no verdict, and no transition is requested before the live node answered.
        """
        client = self.client_node.create_client(GetState, f"/{name}/get_state")
        try:
            deadline = time.monotonic() + TRANSITION_TIMEOUT
            while time.monotonic() < deadline and not self.stopping:
                if client.wait_for_service(timeout_sec=ASK_PERIOD):
                    future = client.call_async(GetState.Request())
                    rclpy.spin_until_future_complete(self.client_node, future, timeout_sec=ASK_PERIOD)
                    if future.done() and future.result() is not None:
                        return future.result().current_state.label
            return ""
        finally:
            self.client_node.destroy_client(client)

    def shutdown(self) -> None:
        """SIGTERM every node, SIGKILL what is left after the grace period."""
        running = [n.process for n in self.nodes if n.process is not None and n.process.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self.client_node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        self.say("robostral up: stopped")

    def _stop(self, signum, frame) -> None:
        """The first signal asks every wait to end; another one later (the user insists) ends every node now.
        One within INSIST_AFTER of the first is the same request delivered twice (to the process and its group)."""
        now = time.monotonic()
        if self.stopping and now - self.stop_asked > INSIST_AFTER:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is None:
                    _signal_group(node.process, signal.SIGKILL)
            os._exit(128 + signum)
        if not self.stopping:
            self.stopping, self.stop_asked = True, now


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the node's process group (its own session); gone already is fine."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
