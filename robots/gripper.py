"""A parallel-jaw gripper as data: its joints, and how a command and a jaw width map to them.

A command carries one number for the gripper: the position of its *drive* joint (the first of
``joints``), in that joint's units. Every other gripper joint follows the drive 1:1 (the
simulator drives them all to the commanded position; on a real cell the controller does).
``widths`` tabulates the gap between the pads against the drive position, so that code which
thinks in metres (the scripted experts) needs nothing per arm: a linear map for prismatic
fingers, a sampled curve for a linkage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRIPS = ("close", "width")
"""How a gripper holds an object: ``close`` fully (fingers that stay parallel whatever they meet, the
motors bounding the squeeze), or to the object's ``width`` less ``squeeze`` (a linkage whose pads stay
parallel only while the drive reaches its command)."""


@dataclass(frozen=True)
class ParallelJaw:
    """Joints, drive positions fully open and fully closed, and the jaw gap (m) against the drive position."""

    joints: tuple[str, ...]  # the drive first, then the joints that follow it 1:1
    open: float  # drive position, fully open
    closed: float  # drive position, fully closed
    widths: tuple[tuple[float, float], ...]  # (gap between the pads in m, drive position), gap increasing
    grip: str = "close"  # one of GRIPS
    squeeze: float = 0.0  # m below an object's width that a ``width`` grip closes to
    friction: float = 1.5  # lateral friction of the finger links (simulator)

    @property
    def drive(self) -> str:
        """The joint a command positions: the others follow it."""
        return self.joints[0]

    def position(self, closedness: float) -> float:
        """The drive position ``closedness`` of the way from open (0) to closed (1)."""
        return self.open + closedness * (self.closed - self.open)

    def closedness(self, position: float) -> float:
        """0 fully open, 1 fully closed, whatever the drive's units."""
        return (position - self.open) / (self.closed - self.open)

    def position_for_width(self, width: float) -> float:
        """The drive position that leaves ``width`` metres between the pads (clipped to the table's range)."""
        gaps, positions = np.array(self.widths, dtype=np.float64).T
        return float(np.interp(width, gaps, positions))

    def width(self, position: float) -> float:
        """The gap (m) between the pads at drive ``position`` (the table read the other way)."""
        gaps, positions = np.array(self.widths, dtype=np.float64).T
        order = np.argsort(positions)
        return float(np.interp(position, positions[order], gaps[order]))

    def holding(self, object_width: float) -> float:
        """The closedness that holds an object ``object_width`` metres across (see ``GRIPS``)."""
        if self.grip == "close":
            return 1.0
        return float(np.clip(self.closedness(self.position_for_width(object_width - self.squeeze)), 0.0, 1.0))
