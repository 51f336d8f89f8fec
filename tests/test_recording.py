"""Recordings (robostral.recording): MCAP in the rosbag2 layout, read back by standard readers, rotated, crash-safe."""

from __future__ import annotations

import shutil
import struct

import pytest
import yaml
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from mcap.exceptions import McapError
from mcap.reader import NonSeekingReader, make_reader
from mcap_ros2.reader import read_ros2_messages
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robostral.recording import BagConfig, BagWriter, RecordingError, read_bag
from robostral.recording.definitions import SEPARATOR, message_definition

T0 = 1_700_000_000_000_000_000  # ns since the epoch
PERIOD = 50_000_000  # ns: 20 Hz
TYPES = {
    "/joint_states": "sensor_msgs/msg/JointState",
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/robostral/instruction": "std_msgs/msg/String",
    "/arm_controller/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


def header(i: int) -> Header:
    return Header(stamp=Time(sec=(T0 + i * PERIOD) // 10**9, nanosec=(T0 + i * PERIOD) % 10**9), frame_id="base")


def messages(i: int) -> dict:
    """One tick of every topic, with values that identify the tick."""
    return {
        "/joint_states": JointState(header=header(i), name=["j1", "j2"], position=[i, -i], velocity=[0.5, 0.25]),
        "/camera/image_raw": Image(header=header(i), height=4, width=4, encoding="rgb8", step=12,
                                   data=bytes(range(i, i + 48))),
        "/robostral/instruction": String(data=f"instruction {i}"),
        "/arm_controller/joint_trajectory": JointTrajectory(
            header=header(i), joint_names=["j1", "j2"], points=[JointTrajectoryPoint(positions=[i, i + 0.5])]),
        "/diagnostics": DiagnosticArray(header=header(i), status=[DiagnosticStatus(
            level=DiagnosticStatus.OK, name="recorder", values=[KeyValue(key="tick", value=str(i))])]),
    }


def record(folder, ticks: int, **config) -> BagWriter:
    """A finished recording of ``ticks`` ticks of every topic (log time = tick time)."""
    with BagWriter(BagConfig(str(folder), **config)) as bag:
        for topic, type_name in TYPES.items():
            bag.add_topic(topic, type_name)
        for i in range(ticks):
            for topic, message in messages(i).items():
                bag.write(topic, serialize_message(message), T0 + i * PERIOD, T0 + i * PERIOD - 1000, sequence=i)
    return bag


def test_round_trip_through_the_standard_readers(tmp_path):
    bag = record(tmp_path / "run", 12)
    assert [p.name for p in bag.files] == ["run_0.mcap"]

    recording = read_bag(tmp_path / "run")
    assert recording.types == TYPES and recording.truncated == []
    joints = recording.messages["/joint_states"]
    assert [m.message.position for m in joints] == [[i, -i] for i in range(12)]
    assert [m.log_time for m in joints] == [T0 + i * PERIOD for i in range(12)]
    assert joints[3].publish_time == T0 + 3 * PERIOD - 1000
    assert joints[3].message.header.stamp.nanosec == header(3).stamp.nanosec
    image = recording.messages["/camera/image_raw"][5].message
    assert (image.encoding, image.step, bytes(image.data)) == ("rgb8", 12, bytes(range(5, 53)))
    assert recording.messages["/robostral/instruction"][7].message.data == "instruction 7"
    assert recording.messages["/arm_controller/joint_trajectory"][2].message.points[0].positions == [2, 2.5]
    assert recording.messages["/diagnostics"][4].message.status[0].values[0].value == "4"

    # the plain mcap reader: the rosbag2 profile, schemas and channels, a complete summary
    with open(bag.files[0], "rb") as stream:
        reader = make_reader(stream)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary.statistics.message_count == 12 * len(TYPES)
        assert summary.statistics.chunk_count >= 1
        schemas = {s.name: s for s in summary.schemas.values()}
        assert set(schemas) == set(TYPES.values())
        assert {s.encoding for s in schemas.values()} == {"ros2msg"}
        joint_state = schemas["sensor_msgs/msg/JointState"].data.decode()
        assert joint_state == message_definition("sensor_msgs/msg/JointState").text
        assert f"\n{SEPARATOR}\nMSG: std_msgs/Header\n" in joint_state
        assert f"\n{SEPARATOR}\nMSG: builtin_interfaces/Time\n" in joint_state
        for channel in summary.channels.values():
            assert channel.message_encoding == "cdr"
            assert channel.metadata["topic_type_hash"].startswith("RIHS01_")
        stored = yaml.safe_load(next(reader.iter_metadata()).metadata["serialized_metadata"])
        assert stored["message_count"] == 12 * len(TYPES)
    # mcap_ros2's own reader decodes every message from the schemas alone
    decoded = list(read_ros2_messages(bag.files[0], topics=["/joint_states"]))
    assert [m.ros_msg.position for m in decoded] == [[i, -i] for i in range(12)]

    # metadata.yaml as rosbag2 writes it
    info = yaml.safe_load((tmp_path / "run" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert (info["version"], info["storage_identifier"]) == (9, "mcap")
    assert info["relative_file_paths"] == ["run_0.mcap"]
    assert info["message_count"] == 12 * len(TYPES)
    assert info["duration"]["nanoseconds"] == 11 * PERIOD
    assert info["starting_time"]["nanoseconds_since_epoch"] == T0
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]}
    assert counts == dict.fromkeys(TYPES, 12)
    topic = info["topics_with_message_count"][0]["topic_metadata"]
    assert (topic["type"], topic["serialization_format"]) == ("sensor_msgs/msg/JointState", "cdr")


@pytest.mark.parametrize("limit", [{"max_file_bytes": 15_000}, {"max_file_seconds": 0.5}])
def test_rotation_makes_several_complete_files(tmp_path, limit):
    bag = record(tmp_path / "run", 40, chunk_bytes=2000, compression="none", **limit)
    assert len(bag.files) >= 3
    assert [p.name for p in bag.files] == [f"run_{i}.mcap" for i in range(len(bag.files))]
    total = 0
    for path in bag.files:
        with open(path, "rb") as stream:
            summary = make_reader(stream).get_summary()  # every rotated file is finished
            total += summary.statistics.message_count
            assert {c.topic for c in summary.channels.values()} == set(TYPES)
            if "max_file_seconds" in limit:
                span = summary.statistics.message_end_time - summary.statistics.message_start_time
                assert span < 0.5e9
    assert total == 40 * len(TYPES)
    info = yaml.safe_load((tmp_path / "run" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["relative_file_paths"] == [p.name for p in bag.files]
    assert sum(f["message_count"] for f in info["files"]) == total
    recording = read_bag(tmp_path / "run")
    assert [m.message.position[0] for m in recording.messages["/joint_states"]] == list(range(40))


def test_a_cut_file_is_read_up_to_its_last_complete_chunk(tmp_path):
    """What a killed recorder leaves: the file ends anywhere, without its summary."""
    bag = record(tmp_path / "run", 60, chunk_bytes=1500, compression="none")
    with open(bag.files[0], "rb") as stream:
        chunks = sorted(make_reader(stream).get_summary().chunk_indexes, key=lambda c: c.chunk_start_offset)
    with open(bag.files[0], "rb") as stream:
        in_file_order = [(c.topic, m.log_time) for _, c, m in NonSeekingReader(stream).iter_messages(
            log_time_order=False)]
    assert len(chunks) >= 5
    size = bag.files[0].stat().st_size
    cuts = {
        "in the summary": size - 40,
        "inside a chunk": chunks[3].chunk_start_offset + chunks[3].chunk_length // 2,
        "just after a chunk": chunks[2].chunk_start_offset + chunks[2].chunk_length,
    }
    for where, cut in cuts.items():
        folder = tmp_path / where.replace(" ", "_")
        folder.mkdir()
        shutil.copy(bag.files[0], folder / "cut_0.mcap")
        with open(folder / "cut_0.mcap", "r+b") as handle:
            handle.truncate(cut)
        complete = [c for c in chunks if c.chunk_start_offset + c.chunk_length <= cut]
        last_time = complete[-1].message_end_time
        expected = sum(1 for i in range(60) if T0 + i * PERIOD <= last_time)

        # the plain mcap reader yields every message of the complete chunks, then stops at the cut
        seen = []
        with open(folder / "cut_0.mcap", "rb") as stream, pytest.raises((McapError, struct.error)):
            for _, channel, message in NonSeekingReader(stream).iter_messages(log_time_order=False):
                seen.append((channel.topic, message.log_time))
        assert seen == in_file_order[:len(seen)] and seen[-1][1] == last_time, where

        with pytest.warns(UserWarning, match="ends early"):
            recording = read_bag(folder)
        assert recording.truncated == ["cut_0.mcap"], where
        positions = [m.message.position[0] for m in recording.messages["/joint_states"]]
        assert positions == list(range(expected)), where


def test_a_recording_is_never_overwritten_and_bad_settings_are_refused(tmp_path):
    record(tmp_path / "run", 2)
    with pytest.raises(FileExistsError, match="already holds a recording"):
        BagWriter(BagConfig(str(tmp_path / "run")))
    with pytest.raises(ValueError, match="compression"):
        BagConfig(str(tmp_path / "other"), compression="gzip")
    with pytest.raises(ValueError, match="max_file_bytes"):
        BagConfig(str(tmp_path / "other"), max_file_bytes=-1)
    with BagWriter(BagConfig(str(tmp_path / "other"))) as bag, pytest.raises(LookupError, match="no .msg file"):
        bag.add_topic("/custom", "robostral_msgs/msg/Unknown")
    with pytest.raises(RecordingError, match="no such recording folder"):
        read_bag(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordingError, match="no .mcap files"):
        read_bag(tmp_path / "empty")
