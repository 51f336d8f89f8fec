"""The ROS 2 graph's contract in one place: topic and service names, message QoS (see DESIGN.md).

Every node takes its names and QoS profiles from here, so that a topic cannot be
spelled two ways and a publisher cannot silently mismatch its subscribers' QoS.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

JOINT_STATES = "/joint_states"
CAMERA_IMAGE = "/camera/image_raw"
WRIST_CAMERA_IMAGE = "/wrist_camera/image_raw"  # for a policy bundle that takes a wrist camera image
# What the policy sees of the front camera after its crop, turn, mirror and resize (rgb8, a few a second): the
# pendant shows it, to line a real camera up with the training viewpoint.
POLICY_CAMERA_INPUT = "/robostral/policy/camera_input"
INSTRUCTION = "/robostral/instruction"
POLICY_TRAJECTORY = "/robostral/policy/joint_trajectory"
PENDANT_TRAJECTORY = "/robostral/pendant/joint_trajectory"
ARM_TRAJECTORY = "/arm_controller/joint_trajectory"
GRIPPER_TRAJECTORY = "/gripper_controller/joint_trajectory"
# The same controllers' actions (ros2_control's default names), where the supervisor's controller_interface is action
ARM_ACTION = "/arm_controller/follow_joint_trajectory"
GRIPPER_ACTION = "/gripper_controller/gripper_cmd"
DIAGNOSTICS = "/diagnostics"
SUPERVISOR_STATE = "/robostral/supervisor/state"
ESTOP = "/robostral/estop"
RESET = "/robostral/reset"
SIM_RESET = "/sim_driver/reset"
# A real cell's URDF, as robot_state_publisher serves it (std_msgs/String, latched): the supervisor's kinematics
# source where its robot_description_topic parameter names this topic.
ROBOT_DESCRIPTION = "/robot_description"

JOINT_STATES_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
IMAGE_QOS = qos_profile_sensor_data  # best effort, depth 5: a late frame is worth nothing
# Latched: a node that starts late still gets the current instruction (and the supervisor's state).
LATCHED_QOS = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)
POLICY_TRAJECTORY_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
CONTROLLER_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
