"""Franka Emika Panda: 7 revolute joints and a parallel gripper (finger travel 0 to 0.04 m each)."""

from sim.robots.robot import RobotSpec

PANDA = RobotSpec(
    name="panda",
    urdf="franka_panda/panda.urdf",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    gripper_joints=("panda_finger_joint1", "panda_finger_joint2"),
    gripper_open=0.04,
    gripper_closed=0.0,
    tool_link="panda_grasptarget",
    home=(0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785),
)
