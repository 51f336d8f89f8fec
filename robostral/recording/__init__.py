"""Recordings of the ROS 2 graph: MCAP files in the rosbag2 layout, written, read back, and made into datasets."""

from robostral.recording.bag_reader import BagMessage, Recording, RecordingError, read_bag
from robostral.recording.bag_writer import BagConfig, BagWriter

__all__ = ["BagConfig", "BagMessage", "BagWriter", "Recording", "RecordingError", "read_bag"]
