"""The life of one node process: init, spin until SIGINT/SIGTERM, shut down cleanly."""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(make: Callable[[], Node], argv: Sequence[str]) -> None:
    """Spin the node ``make()`` builds; SIGTERM (what ``robostral up`` sends) stops it like Ctrl-C."""
    rclpy.init(args=list(argv), signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    node = make()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
