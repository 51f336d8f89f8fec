"""Recordings of the ROS 2 graph: MCAP files in the rosbag2 layout, written and read back.

``robostral.ros.from_bag`` makes a recording a dataset.
"""

from robostral.recording.bag_reader import BagMessage, Recording, RecordingError, read_bag
from robostral.recording.bag_writer import BagConfig, BagWriter

__all__ = ["BagConfig", "BagMessage", "BagWriter", "Recording", "RecordingError", "read_bag"]
