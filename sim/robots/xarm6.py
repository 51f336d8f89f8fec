"""UFACTORY xArm6: a 6-axis industrial arm with the xArm parallel gripper (drive joint 0 to 0.85 rad).

The gripper is a four-bar linkage: the drive turns the outer knuckles and the
fingers counter-rotate so their pads stay parallel. The simulator drives every
joint of the linkage to the same commanded angle (the mimic joints follow the
command, not the drive's actual angle), so the pads stay parallel only while
nothing stops the drive short of its command: grip by commanding the drive to
the object's width (``drive_angle``), not fully closed.
"""

import numpy as np

from sim.robots.robot import RobotSpec

XARM6 = RobotSpec(
    name="xarm6",
    urdf="xarm/xarm6_with_gripper.urdf",
    arm_joints=tuple(f"joint{i}" for i in range(1, 7)),
    gripper_joints=(
        "drive_joint",
        "left_finger_joint",
        "left_inner_knuckle_joint",
        "right_outer_knuckle_joint",
        "right_finger_joint",
        "right_inner_knuckle_joint",
    ),
    gripper_open=0.0,
    gripper_closed=0.85,
    tool_link="link6",
    tool_offset=(0.0, 0.0, 0.172),  # middle of the finger pads, 0.165 to 0.178 m below the flange
    home=(0.0, -0.5, -0.9, 0.0, 1.4, 0.0),
)

# Linkage geometry from the URDF and the finger mesh (metres, gripper base frame, one side).
KNUCKLE_Y = 0.035  # drive axis off the centre line
FINGER_JOINT = (0.035465, 0.042039)  # (y, z) of the finger joint in the outer knuckle frame
PAD_INSET = 0.026  # pad face inward of the finger joint


def drive_angle(gap: float) -> float:
    """Drive angle (rad) that leaves ``gap`` metres between the finger pads (0.089 m at 0 rad, 0.002 m at 0.85).

    Solves ``gap / 2 = KNUCKLE_Y - PAD_INSET + y cos(angle) - z sin(angle)``, the pad face of a parallel finger.
    """
    y, z = FINGER_JOINT
    cosine = (gap / 2.0 - KNUCKLE_Y + PAD_INSET) / np.hypot(y, z)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0)) - np.arctan2(z, y)
    return float(np.clip(angle, XARM6.gripper_open, XARM6.gripper_closed))
