"""Each run of the recorder records into a new folder under its ``output``, so a second `up --record` records too."""

from __future__ import annotations

from robostral.recording.bag_writer import BagConfig, BagWriter
from robostral.ros.recorder import new_run_folder


def test_every_run_gets_its_own_folder_named_as_rosbag2_names_them(tmp_path):
    first = new_run_folder(tmp_path)
    assert first.parent == tmp_path and first.name.startswith("robostral_")
    BagWriter(BagConfig(folder=str(first))).close()
    second = new_run_folder(tmp_path)  # the same second: a restarted recorder
    assert second != first and second.parent == tmp_path and not second.exists()
    BagWriter(BagConfig(folder=str(second))).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
