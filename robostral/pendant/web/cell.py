"""What the pendant's pages need of the robot cell; the ROS 2 node's ``ros.pendant_bridge.PendantBridge`` implements it.

Defined here, on the pendant's side, so that the pendant never imports ROS: the node passes its
bridge in (``app.create_app``).
"""

from __future__ import annotations

from typing import Protocol

from robostral.pendant.motion.runner import Cell


class PendantCell(Cell, Protocol):
    """The runner's ``Cell``, and what the screens show of the cell and tell it."""

    def snapshot(self) -> dict:
        """Everything the page shows, JSON-ready."""

    def camera_frame(self) -> tuple[int, bytes] | None:
        """(sequence number, JPEG) of the latest camera image, or None before the first."""

    def policy_input_png(self) -> bytes | None:
        """PNG of what the policy sees of the camera after its preprocessing, or None before the first."""

    def instruction(self) -> str:
        """The instruction the policy follows now ('' when none)."""

    def heartbeat(self, owner: object) -> bool:
        """Keep ``owner``'s held motion going; False when it has none."""

    def estop(self) -> str:
        """Stop streaming and latch the e-stop; the supervisor's answer."""

    def reset(self) -> str:
        """Reset a latched e-stop or fault; the supervisor's answer."""

    def set_speed_override(self, value: float) -> None:
        """The supervisor's speed override, a fraction in (0, 1]."""

    def switch_policy(self, bundle: str) -> str:
        """Deploy the policy bundle at path ``bundle``; the policy node's lifecycle state after."""
