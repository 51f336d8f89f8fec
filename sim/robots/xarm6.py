"""UFACTORY xArm6: a 6-axis industrial arm with the xArm parallel gripper (drive joint 0 to 0.85 rad)."""

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
    tool_offset=(0.0, 0.0, 0.172),
    home=(0.0, -0.5, -0.9, 0.0, 1.4, 0.0),
)
