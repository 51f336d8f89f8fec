"""The recorder node: records chosen topics into MCAP files in the rosbag2 layout (``robostral.recording``).

Each topic's type is found in the graph, retried until the topic has a publisher. The
subscription asks for what every publisher offers (reliable, transient local only when all
of them do, as rosbag2 does: so best-effort camera images and the latched instruction both
arrive) and takes the serialized CDR bytes as they are, so recording costs no
deserialization. SIGINT or SIGTERM finishes the current file; a killed recorder leaves
every finished chunk readable, and chunks are finished at least every ``flush_seconds``.

Parameters: ``topics`` (string array; default ``TOPICS``, each camera's raw and compressed topics
among them: a driver that offers both through image_transport gets both recorded, so name the one
to keep), ``output`` (the folder that holds the recordings: each run records into a new
``robostral_YYYY_MM_DD-HH_MM_SS`` folder in it, as rosbag2 names them; default the working
directory), ``max_file_mb`` and ``max_file_seconds`` (rotation, 0 = none), ``flush_seconds``,
``compression`` (zstd, lz4, none).
"""

from __future__ import annotations

import importlib
import time
from functools import partial
from pathlib import Path

import yaml
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from rclpy.topic_endpoint_info import TopicEndpointInfo

from robostral.recording.bag_writer import BagConfig, BagWriter
from robostral.ros import contract
from robostral.ros.messages import TRANSPORTS
from robostral.ros.spin import run_node

# What `robostral dataset from-bag` needs (each camera raw or compressed, whichever its driver publishes), what the
# policy asked for, and every node's health.
CAMERAS = [transport.topic(base) for base in (contract.CAMERA_IMAGE, contract.WRIST_CAMERA_IMAGE)
           for transport in TRANSPORTS.values()]
TOPICS = (contract.JOINT_STATES, *CAMERAS, contract.INSTRUCTION, contract.ARM_TRAJECTORY, contract.GRIPPER_TRAJECTORY,
          contract.POLICY_TRAJECTORY, contract.DIAGNOSTICS)
DEPTH = 100  # messages queued per topic while the disk is busy
DISCOVERY_PERIOD = 0.5  # s between looks for the topics not found yet


def new_run_folder(output: Path) -> Path:
    """A folder in ``output`` for this run, named by its start as rosbag2 does (``_1``... if a run of the same
    second, a restarted recorder's, has it)."""
    name = time.strftime("robostral_%Y_%m_%d-%H_%M_%S")
    folder, again = output / name, 0
    while folder.exists():
        again += 1
        folder = output / f"{name}_{again}"
    return folder


class Recorder(Node):
    """Subscribes to ``topics`` as they appear and appends every message to a ``BagWriter``."""

    def __init__(self) -> None:
        super().__init__("robostral_recorder")
        topics = list(self.declare_parameter("topics", list(TOPICS)).value)
        output = Path(self.declare_parameter("output", "").value or ".")
        config = BagConfig(
            folder=str(new_run_folder(output)),
            max_file_bytes=int(self.declare_parameter("max_file_mb", 0.0).value * 2**20),
            max_file_seconds=self.declare_parameter("max_file_seconds", 0.0).value,
            compression=self.declare_parameter("compression", "zstd").value,
        )
        flush_seconds = self.declare_parameter("flush_seconds", 1.0).value
        self.bag = BagWriter(config)
        self.waiting = topics
        self.discovery = self.create_timer(DISCOVERY_PERIOD, self.discover)
        self.create_timer(flush_seconds, self.bag.flush)
        self.get_logger().info(f"recording {', '.join(topics)} into {config.folder}")
        self.discover()

    def discover(self) -> None:
        """Subscribe to each waiting topic that now has a publisher."""
        types = dict(self.get_topic_names_and_types())
        for topic in list(self.waiting):
            # the cell's own name where the graph remaps it (launch/graph.yaml); recorded under the graph's name,
            # which from-bag reads, and subscribed by it (the process's remaps apply)
            on_cell = self.resolve_topic_name(topic)
            publishers = self.get_publishers_info_by_topic(on_cell) if on_cell in types else []
            if not publishers:
                continue
            self.waiting.remove(topic)
            type_name = types[on_cell][0]
            try:
                self.bag.add_topic(topic, type_name, offered_qos_profiles(publishers))
            except LookupError as error:  # no .msg file: standard readers could not decode it
                self.get_logger().error(f"not recording {topic}: {error}")
                continue
            self.create_subscription(message_class(type_name), topic, partial(self.receive, topic),
                                     requested_qos(publishers), raw=True)
            self.get_logger().info(f"recording {topic} ({type_name})")
        if not self.waiting:
            self.discovery.cancel()

    def destroy_node(self) -> None:
        """Finish the recording (the current file and metadata.yaml), then leave the graph."""
        self.bag.close()
        super().destroy_node()

    def receive(self, topic: str, data: bytes, info: MessageInfo) -> None:
        sequence = (info["publication_sequence_number"] or 0) & 0xFFFFFFFF  # MCAP's sequence is 32 bits
        self.bag.write(topic, data, info["received_timestamp"], info["source_timestamp"], sequence)


def message_class(type_name: str) -> type:
    """The Python class of a message type such as "sensor_msgs/msg/JointState"."""
    package, namespace, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{namespace}"), name)


def message_type_name(message_class: type) -> str:
    """The type name, such as "sensor_msgs/msg/JointState", of a message class (``message_class``'s inverse)."""
    return f"{message_class.__module__.split('.')[0]}/msg/{message_class.__name__}"


def requested_qos(publishers: list[TopicEndpointInfo]) -> QoSProfile:
    """A QoS every publisher matches: reliable and transient local only where all of them offer it."""
    offered = [p.qos_profile for p in publishers]
    reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
    latched = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
    return QoSProfile(
        depth=DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def offered_qos_profiles(publishers: list[TopicEndpointInfo]) -> str:
    """The publishers' QoS as rosbag2 stores it (metadata version 9): a YAML list, policies by name."""
    return qos_profiles_yaml([p.qos_profile for p in publishers])


def qos_profiles_yaml(offered: list[QoSProfile]) -> str:
    """QoS profiles as rosbag2 stores a topic's ``offered_qos_profiles``: a YAML list, policies by name."""

    def duration(value) -> dict:
        sec, nsec = divmod(value.nanoseconds, 1_000_000_000)
        return {"sec": sec, "nsec": nsec}

    profiles = [
        {
            "history": q.history.short_key,
            "depth": q.depth,
            "reliability": q.reliability.short_key,
            "durability": q.durability.short_key,
            "deadline": duration(q.deadline),
            "lifespan": duration(q.lifespan),
            "liveliness": q.liveliness.short_key,
            "liveliness_lease_duration": duration(q.liveliness_lease_duration),
            "avoid_ros_namespace_conventions": q.avoid_ros_namespace_conventions,
        }
        for q in offered
    ]
    return yaml.safe_dump(profiles, sort_keys=False)


def main(argv: list[str] | None = None) -> None:
    """``robostral-recorder [--ros-args -p output:=DIR ...]``: record until Ctrl-C or SIGTERM."""
    run_node(Recorder, argv)


if __name__ == "__main__":
    main()
