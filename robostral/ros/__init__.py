"""ROS 2 nodes of Robostral: code once here, exposed to ros2 run by ros_ws/."""
