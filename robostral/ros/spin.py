"""The life of one node process: init, spin until SIGINT/SIGTERM, shut down cleanly."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from robostral.ros.realtime import PARAMETER, make_realtime

# s: how long an idle node (no timer, no message: an unconfigured lifecycle node) may block before a
# SIGINT/SIGTERM is seen. Python runs signal handlers only between bytecodes, never inside the wait.
WAKE_PERIOD = 0.1


def run_node(make: Callable[[], Node | tuple[Node, ...]], argv: Sequence[str] | None = None) -> None:
    """Spin the node ``make()`` builds (``argv``: the process's ROS arguments, default sys.argv); SIGTERM
    (what ``robostral up`` sends) stops it like Ctrl-C.

    ``make()`` may build more than one node: the first spins on the main thread, each other one on a
    thread and executor of its own, so that its callbacks never wait behind the first's (the safety
    supervisor's e-stop). One single-threaded executor per thread: rclpy's multi-threaded executor
    spins without sleeping while a callback group is busy, which on SCHED_FIFO starves the process.
    """
    arguments = list(sys.argv if argv is None else argv)
    rclpy.init(args=arguments, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    made = make()
    node, *others = made if isinstance(made, tuple) else (made,)
    _schedule(node)  # before the other threads start: they inherit its scheduling
    stopping = threading.Event()
    asides = [threading.Thread(target=_spin_until, args=(other, stopping), name=f"spin-{other.get_name()}")
              for other in others]
    for thread in asides:
        thread.start()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while rclpy.ok():
            executor.spin_once(timeout_sec=WAKE_PERIOD)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stopping.set()
        for thread in asides:  # joined before anything is destroyed: a thread left in a wait aborts the process
            thread.join()
        for each in (*others, node):
            each.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def _spin_until(node: Node, stopping: threading.Event) -> None:
    """Spin ``node`` on an executor of its own until ``stopping`` is set (seen within WAKE_PERIOD)."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stopping.is_set():
        executor.spin_once(timeout_sec=WAKE_PERIOD)
    executor.shutdown()


def _schedule(node: Node) -> None:
    """Apply the node's ``realtime_priority`` parameter (launch/params: the control path's nodes set it)."""
    priority = node.declare_parameter(PARAMETER, 0).value
    if priority:
        outcome = make_realtime(int(priority))
        (node.get_logger().info if outcome.startswith("real-time") else node.get_logger().warning)(outcome)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
