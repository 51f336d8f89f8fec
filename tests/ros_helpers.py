"""Helpers for tests that run ROS 2 graphs as real processes talking real DDS, loopback only, one domain each.

``RosProcess`` starts a process (``robostral up`` or one node) on a domain of its own,
logs its output to a file and stops it with SIGINT, SIGKILLing whatever of its
graph is left (children in their own sessions included) and failing on orphans.
``Probe`` is the test's own rclpy node on that domain, spun in a background thread:
it publishes, records topics with their receive times and calls services. Every
wait has a deadline and fails saying what it waited for and what it saw.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile

from robostral.ros import contract
from robostral.ros.messages import MAX_BYTES, subscribe_bounded

ROOT = Path(__file__).resolve().parent.parent
GRAPH_MARKER = "ROBOSTRAL_TEST_GRAPH"  # in the environment of every process one test started: finds them all
_domains, _markers = itertools.count(), itertools.count()


def next_domain() -> int:
    """A ROS_DOMAIN_ID for one graph of this test process (spread by pid so that parallel runs differ), 40..101.

    Its Fast DDS shared-memory ports are cleared first: the 62 domains are reused over a run, and a port
    segment left behind by a node a test SIGKILLed mid-write can crash the next participant that opens
    it (eProsima/Fast-DDS#6501: a segfault in create_participant, seen once as ``robostral instruct``
    exiting -11). Nothing of this process runs on the domain when it is handed out.
    """
    domain = 40 + ((os.getpid() % 12) * 5 + next(_domains)) % 62
    forget_shared_memory(domain)
    return domain


def forget_shared_memory(domain: int, shm: Path = Path("/dev/shm")) -> None:
    """Unlink the Fast DDS shared-memory port segments of ``domain`` (its ports are 7400 + 250 * domain + 0..249)."""
    first = 7400 + 250 * domain
    for port in range(first, first + 250):
        for name in (f"fastdds_port{port}", f"fastdds_port{port}_el", f"sem.fastdds_port{port}_mutex"):
            with contextlib.suppress(FileNotFoundError):
                (shm / name).unlink()


def ros_env(domain: int) -> dict[str, str]:
    """The environment of a process: loopback-only discovery on ``domain``, a marker its children inherit."""
    return {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(domain),
            "PYTHONPATH": str(ROOT), GRAPH_MARKER: f"{os.getpid()}-{next(_markers)}", "PYTHONUNBUFFERED": "1"}


def marked_pids(marker: str) -> list[int]:
    """Every live process whose environment carries ``GRAPH_MARKER=marker``."""
    needle = f"{GRAPH_MARKER}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:  # gone, or not ours
                continue
    return pids


def wait_until(condition: Callable[[], Any], timeout: float, what: str, seen: Callable[[], object] = lambda: "") -> Any:
    """Poll ``condition`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}; seen: {seen()}")
        time.sleep(0.02)


class RosProcess:
    """A process on domain ``domain`` (and all it starts); its stdout and stderr go to ``log``."""

    def __init__(self, command: Sequence[str], domain: int, log: Path) -> None:
        self.domain, self.log = domain, log
        env = ros_env(domain)
        self.marker = env[GRAPH_MARKER]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(list(command), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @classmethod
    def node(cls, module: str, parameters: dict[str, object], domain: int, log: Path, name: str = "") -> RosProcess:
        """``python -m robostral.ros.MODULE`` with ``parameters`` (and node name ``name``, if given)."""
        words = [sys.executable, "-m", f"robostral.ros.{module}", "--ros-args"]
        words += ["-r", f"__node:={name}"] if name else []
        for key, value in parameters.items():
            words += ["-p", f"{key}:={value}"]
        return cls(words, domain, log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pid_of(self, node: str) -> int:
        """The pid ``robostral up`` last started ``node`` with."""
        return int(re.findall(rf"started {node} \(pid (\d+)\)", self.output())[-1])

    def wait_for_output(self, text: str, timeout: float, after: int = 0) -> int:
        """Until ``text`` appears in the log at or after character ``after``; its position."""
        def found() -> int:
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode} waiting for {text!r}:\n{self.output()}")
            return self.output().find(text, after) + 1

        return wait_until(found, timeout, f"{text!r} in the output", lambda: self.output()[-3000:]) - 1

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT, then SIGKILL to whatever of it is left, children too; AssertionError if anything had to be killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        leftovers = self._reap()
        assert not leftovers, f"processes left behind and killed: {leftovers}\n{self.output()[-3000:]}"
        return self.process.returncode

    def _reap(self) -> list[int]:
        """Pids of its processes still alive after a short grace, each SIGKILLed."""
        deadline = time.monotonic() + 5.0
        while (left := marked_pids(self.marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


class Topic:
    """Messages received on one topic, with their receive times (``time.monotonic()`` s)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: list[tuple[float, Any]] = []

    def add(self, msg: Any) -> None:
        self.received.append((time.monotonic(), msg))

    def latest(self) -> Any:
        return self.received[-1][1] if self.received else None

    def since(self, after: float = 0.0) -> list[tuple[float, Any]]:
        return [(t, m) for t, m in list(self.received) if t >= after]

    def wait_for(self, predicate: Callable[[Any], bool] = lambda msg: True, timeout: float = 10.0, after: float = 0.0,
                 what: str = "a message") -> tuple[float, Any]:
        """The first (time, message) received at or after ``after`` that satisfies ``predicate``."""
        def first():
            return next(((t, m) for t, m in self.since(after) if predicate(m)), None)

        return wait_until(first, timeout, f"{what} on {self.name}", lambda: [m for _, m in self.since(after)][-3:])


def stamp_seconds(msg: Any) -> float:
    """A stamped message's header time (the publisher's clock, s): when it happened, not when a probe heard of it."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def statuses(diagnostics: Topic, node: str, after: float = 0.0) -> list[tuple[float, DiagnosticStatus]]:
    """Every status of ``node`` on a recorded /diagnostics since ``after``."""
    return [(t, s) for t, array in diagnostics.since(after) for s in array.status if s.name == node]


def status_text(status: DiagnosticStatus) -> str:
    """A status's message and values as one searchable line."""
    return " | ".join([status.message, *(f"{kv.key}={kv.value}" for kv in status.values)])


def wait_for_diagnostic(diagnostics: Topic, node: str, text: str, timeout: float = 10.0,
                        after: float = 0.0) -> tuple[float, DiagnosticStatus]:
    """The first status of ``node`` since ``after`` whose message or values contain ``text``."""
    def first():
        return next(((t, s) for t, s in statuses(diagnostics, node, after) if text in status_text(s)), None)

    return wait_until(first, timeout, f"{node} diagnostic containing {text!r}",
                      lambda: [status_text(s) for _, s in statuses(diagnostics, node, after)][-3:])


class Probe:
    """The test's rclpy node on ``domain`` (loopback only), its executor spinning in a background thread."""

    def __init__(self, domain: int, name: str = "test_probe") -> None:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # read by rmw at init: this process stays local
        self.context = Context()
        rclpy.init(args=[], context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def record(self, topic: str, msg_type: type, qos: QoSProfile) -> Topic:
        """Every message on ``topic`` within the graph's size limits (``MAX_BYTES``: what the nodes read too), so
        that a test's own hostile flood of huge messages does not swamp the probe that watches the cell."""
        recording = Topic(topic)
        if msg_type in MAX_BYTES:
            subscribe_bounded(self.node, msg_type, topic, recording.add, qos, refused=lambda reason: None)
        else:
            self.node.create_subscription(msg_type, topic, recording.add, qos)
        return recording

    def record_diagnostics(self) -> Topic:
        return self.record(contract.DIAGNOSTICS, DiagnosticArray, contract.DIAGNOSTICS_QOS)

    def publisher(self, topic: str, msg_type: type, qos: QoSProfile, subscribers: int = 1, timeout: float = 30.0):
        """A publisher, returned once ``subscribers`` subscriptions matched it (so that nothing sent is lost)."""
        publisher = self.node.create_publisher(msg_type, topic, qos)
        wait_until(lambda: publisher.get_subscription_count() >= subscribers, timeout,
                   f"{subscribers} subscriber(s) of {topic}", publisher.get_subscription_count)
        return publisher

    @contextlib.contextmanager
    def every(self, period: float, callback: Callable[[], None]) -> Iterator[None]:
        """``callback`` every ``period`` s on the probe's executor during the block; its first error raised after."""
        errors: list[Exception] = []

        def guarded() -> None:
            try:
                callback()
            except Exception as error:  # kept for the test's thread: raised here, it would stop the executor
                errors.append(error)

        timer = self.node.create_timer(period, guarded)
        try:
            yield
        finally:
            timer.cancel()
            self.node.destroy_timer(timer)
        if errors:
            raise errors[0]

    def call(self, service: str, srv_type: type, request: Any = None, timeout: float = 30.0) -> Any:
        """Call ``service`` and return its response."""
        client = self.node.create_client(srv_type, service)
        try:
            return self._answer(client, service, request if request is not None else srv_type.Request(), timeout)
        finally:
            self.node.destroy_client(client)

    def transition(self, node: str, transition: int, timeout: float = 30.0) -> Any:
        """Ask lifecycle node ``node`` for ``transition``; its ChangeState response.

        The change_state client is made first, then get_state is asked until it answers: the node learns
        of the probe's endpoints in the order they were made, so it then knows where change_state's
        answer goes (a service drops an answer to a reader it has not discovered yet: a busy machine
        lost one that way, CI). get_state may be asked again; a transition may not.
        """
        client = self.node.create_client(ChangeState, f"/{node}/change_state")
        try:
            wait_until(lambda: self.state(node, timeout=2.0), timeout, f"{node}'s lifecycle state")
            request = ChangeState.Request(transition=Transition(id=transition))
            return self._answer(client, f"/{node}/change_state", request, timeout)
        finally:
            self.node.destroy_client(client)

    def state(self, node: str, timeout: float = 30.0) -> str:
        """Lifecycle node ``node``'s state label ('' when it does not answer within ``timeout`` s)."""
        try:
            return self.call(f"/{node}/get_state", GetState, timeout=timeout).current_state.label
        except AssertionError:
            return ""

    def _answer(self, client: Any, service: str, request: Any, timeout: float) -> Any:
        wait_until(lambda: client.wait_for_service(timeout_sec=0.1), timeout, f"service {service}")
        future = client.call_async(request)
        wait_until(future.done, timeout, f"response from {service}")
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()
        self.context.try_shutdown()


@contextlib.contextmanager
def hostile(kind: str, domain: int, log: Path) -> Iterator[RosProcess]:
    """A hostile neighbour on ``domain`` while the block runs, as bench/estop_under_load.py runs them: ``commands``
    (10,000-point trajectories as fast as it can), ``joint states`` (of 10,000 joints, as fast as it can) or
    ``spoof`` (the arm's pose with joint 1 moved 0.5 rad, 50 times a second)."""
    process = RosProcess([sys.executable, str(ROOT / "bench" / "estop_under_load.py"), "--hostile", kind], domain, log)
    try:
        process.wait_for_output("hostile: running", timeout=60)
        yield process
    finally:
        process.stop()


def free_port() -> int:
    """A TCP port nothing listens on (on loopback) right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def robostral_up(arguments: Sequence[str], log: Path) -> Iterator[tuple[RosProcess, Probe]]:
    """``robostral up ARGUMENTS`` on a domain of its own, running, and a probe on that domain; both stopped after.

    Unless the arguments set them, the graph's pendant gets a free port and a database next to ``log``,
    so that tests never share (or leave behind) the default runs/pendant/pendant.db on port 8080.
    """
    domain = next_domain()
    arguments = list(arguments)
    if not any(a.startswith("pendant.") for a in arguments):
        arguments += ["--param", f"pendant.port={free_port()}", "--param", f"pendant.db={log.parent / 'pendant.db'}"]
    graph = RosProcess([sys.executable, "-m", "robostral.cli", "up", *arguments], domain, log)
    probe = None
    try:
        graph.wait_for_output("graph running", timeout=60)
        probe = Probe(domain)
        yield graph, probe
    finally:
        if probe is not None:
            probe.close()
        graph.stop()
