"""Demonstration datasets in the LeRobotDataset v3.0 layout: a crash-safe writer and a validating reader.

``robostral.data.collect`` records the simulator's scripted experts into one.
"""

from robostral.data.episode import Episode
from robostral.data.reader import Dataset, DatasetError, load_dataset
from robostral.data.writer import DatasetSpec, DatasetWriter

__all__ = ["Dataset", "DatasetError", "DatasetSpec", "DatasetWriter", "Episode", "load_dataset"]
