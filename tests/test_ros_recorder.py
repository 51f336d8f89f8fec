"""The recorder node over real DDS, as processes: SIGINT/SIGTERM finish the recording, SIGKILL leaves it readable."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader

from robostral.recording import RecordingError, read_bag

ROOT = Path(__file__).resolve().parent.parent
_domains = itertools.count()

# A stand-in for the driver and the pendant, with the graph's QoS: joint states (reliable), camera
# images (sensor data: best effort), the instruction (latched: published once, before the recorder
# starts) and arm commands, at 50 Hz. Joint state i has position [i, 0].
PUBLISHER = textwrap.dedent("""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from robostral.ros import contract

    rclpy.init()
    node = Node("fake_driver")
    joints = node.create_publisher(JointState, contract.JOINT_STATES, contract.JOINT_STATES_QOS)
    images = node.create_publisher(Image, contract.CAMERA_IMAGE, contract.IMAGE_QOS)
    instruction = node.create_publisher(String, contract.INSTRUCTION, contract.LATCHED_QOS)
    instruction.publish(String(data="pick up the red cube"))
    arm = node.create_publisher(JointTrajectory, contract.ARM_TRAJECTORY, contract.CONTROLLER_QOS)
    ticks = iter(range(10**9))

    def tick():
        i = next(ticks)
        stamp = node.get_clock().now().to_msg()
        state = JointState(name=["a", "b"], position=[float(i), 0.0], velocity=[0.0, 0.0])
        state.header.stamp = stamp
        joints.publish(state)
        image = Image(height=4, width=4, encoding="rgb8", step=12, data=bytes([i % 256]) * 48)
        image.header.stamp = stamp
        images.publish(image)
        arm.publish(JointTrajectory(joint_names=["a"], points=[JointTrajectoryPoint(positions=[float(i)])]))

    node.create_timer(0.02, tick)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
""")


def ros_env() -> dict:
    """Loopback-only discovery on a domain id of this test alone (pid-spread, so parallel runs differ)."""
    domain = 30 + (os.getpid() + next(_domains)) % 70
    return {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_DOMAIN_ID": str(domain),
            "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def publisher():
    """The publisher process; yields its environment (domain) for the recorders to share."""
    env = ros_env()
    process = subprocess.Popen([sys.executable, "-c", PUBLISHER], env=env, cwd=ROOT)
    yield env
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_recorder(env: dict, recordings: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "robostral.ros.recorder", "--ros-args", "-p", f"output:={recordings}",
         "-p", "max_file_seconds:=1.0", "-p", "flush_seconds:=0.2"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for_messages(process: subprocess.Popen, recordings: Path, joint_states: int, timeout: float = 30.0) -> Path:
    """The run's folder under ``recordings``, once the recording on disk (read while it is written) holds
    ``joint_states`` joint states and a 2nd file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        runs = list(recordings.glob("robostral_*"))
        try:
            assert len(runs) <= 1, runs
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the file being written ends early, by design
                recording = read_bag(runs[0])
            if len(recording.messages.get("/joint_states", [])) >= joint_states and len(recording.truncated) == 1 \
                    and (runs[0] / f"{runs[0].name}_1.mcap").exists():
                return runs[0]
        except (IndexError, RecordingError):  # no folder or no file yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"the recorder recorded too little in {timeout} s")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_recorder_leaves_a_finished_recording_of_every_topic(publisher, tmp_path, stop):
    recorder = start_recorder(publisher, tmp_path / "recordings")
    output = wait_for_messages(recorder, tmp_path / "recordings", joint_states=60)
    recorder.send_signal(stop)
    log, _ = recorder.communicate(timeout=15)
    assert recorder.returncode == 0, log

    recording = read_bag(output)  # no warning: every file is finished
    assert recording.truncated == []
    files = sorted(output.glob("*.mcap"))
    assert len(files) >= 2  # rotated every second
    for path in files:
        with open(path, "rb") as stream:
            assert make_reader(stream).get_summary() is not None
    info = yaml.safe_load((output / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["relative_file_paths"] == [p.name for p in files]
    assert info["message_count"] == sum(len(m) for m in recording.messages.values())

    assert recording.types == {
        "/joint_states": "sensor_msgs/msg/JointState",
        "/camera/image_raw": "sensor_msgs/msg/Image",
        "/robostral/instruction": "std_msgs/msg/String",
        "/arm_controller/joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
    }
    assert [m.message.data for m in recording.messages["/robostral/instruction"]] == ["pick up the red cube"]
    positions = [int(m.message.position[0]) for m in recording.messages["/joint_states"]]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # reliable: none lost
    assert len(recording.messages["/camera/image_raw"]) >= 0.9 * len(positions)  # best effort, on loopback
    first = recording.messages["/joint_states"][0]
    assert 0 <= first.log_time - first.publish_time < 1e9  # received after it was sent, ns since the epoch
    with open(files[0], "rb") as stream:
        channels = {c.topic: c for c in make_reader(stream).get_summary().channels.values()}
    assert "reliability: best_effort" in channels["/camera/image_raw"].metadata["offered_qos_profiles"]
    assert "durability: transient_local" in channels["/robostral/instruction"].metadata["offered_qos_profiles"]


def test_sigkill_leaves_every_finished_chunk_readable(publisher, tmp_path):
    recorder = start_recorder(publisher, tmp_path / "recordings")
    output = wait_for_messages(recorder, tmp_path / "recordings", joint_states=60)
    recorder.kill()
    recorder.communicate(timeout=15)

    files = sorted(output.glob("*.mcap"))
    with pytest.warns(UserWarning, match="ends early"):
        recording = read_bag(output)
    assert recording.truncated == [files[-1].name]  # the file being written; the rotated ones are finished
    for path in files[:-1]:
        with open(path, "rb") as stream:
            assert make_reader(stream).get_summary() is not None
    positions = [int(m.message.position[0]) for m in recording.messages["/joint_states"]]
    assert len(positions) >= 60
    assert positions == list(range(positions[0], positions[0] + len(positions)))
    info = yaml.safe_load((output / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["relative_file_paths"] == [p.name for p in files]  # names the file being written too
