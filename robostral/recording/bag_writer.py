"""Write a recording as rosbag2's MCAP storage plugin does: a folder of NAME_0.mcap, NAME_1.mcap, ..., metadata.yaml.

Every file has the "ros2" profile, one schema per message type (encoding "ros2msg", the
complete definition), one channel per topic (message encoding "cdr", with rosbag2's
``offered_qos_profiles`` and ``topic_type_hash`` metadata) and the messages as the
serialized CDR bytes the publisher sent: log time = when the recorder received it,
publish time = when it was sent [ns since the Unix epoch]. ``ros2 bag info``/``play``,
Foxglove and the mcap readers open it as a rosbag2 recording.

Crash safety: messages go into small compressed chunks, and each chunk is handed to the OS
as soon as it is finished (and on ``flush``, which the recorder calls every second), so a
killed process leaves every finished chunk readable. A file is finished (summary, footer)
before the next one starts, and metadata.yaml is replaced atomically whenever a file
starts or finishes, so it always names every file.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mcap.well_known import MessageEncoding
from mcap.writer import CompressionType, Writer

from robostral.recording.definitions import ENCODING, MessageDefinition, message_definition

METADATA_NAME = "metadata.yaml"
METADATA_VERSION = 9  # rosbag2's metadata.yaml version (Jazzy, Kilted): QoS policies as names
PROFILE = "ros2"
LIBRARY = "robostral recorder"
COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


@dataclass(frozen=True)
class BagConfig:
    """One recording; a file is rotated when it reaches either limit (0 = no limit)."""

    folder: str  # created; files inside are named after it: FOLDER_0.mcap, FOLDER_1.mcap, ...
    max_file_bytes: int = 0  # start a new file once the current one's data has this many bytes (then its summary)
    max_file_seconds: float = 0.0  # start a new file before a message this much later than the file's first [s]
    chunk_bytes: int = 256 * 1024  # a chunk is finished (and readable after a crash) once it holds this much
    compression: str = "zstd"  # of each chunk: zstd, lz4 or none

    def __post_init__(self) -> None:
        if not self.folder:
            raise ValueError("BagConfig.folder must name the recording's folder")
        for name in ("max_file_bytes", "max_file_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"BagConfig.{name} must be >= 0 (0 = no limit), got {getattr(self, name)}")
        if self.chunk_bytes <= 0:
            raise ValueError(f"BagConfig.chunk_bytes must be > 0, got {self.chunk_bytes}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"BagConfig.compression must be one of {', '.join(COMPRESSIONS)}, "
                             f"got {self.compression!r}")


@dataclass
class _Topic:
    name: str
    definition: MessageDefinition
    offered_qos_profiles: str  # YAML list of the publishers' QoS, rosbag2's format ("" = unknown)
    message_count: int = 0


@dataclass
class _File:
    path: Path
    starting_time: int = 0  # ns, log time of its first message
    end_time: int = 0  # ns, log time of its latest message
    message_count: int = 0
    channels: dict[str, int] = field(default_factory=dict)  # topic -> channel id


class BagWriter:
    """Appends serialized messages to a new recording folder; ``close`` (or the with block) finishes it."""

    def __init__(self, config: BagConfig) -> None:
        self.config = config
        self.folder = Path(config.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(p.name for p in self.folder.glob("*.mcap"))
        if existing:
            raise FileExistsError(f"{self.folder} already holds a recording ({', '.join(existing[:3])}); "
                                  "record into a new folder")
        self._topics: dict[str, _Topic] = {}
        self._files: list[_File] = []
        self._writer: Writer | None = None
        self._stream = None
        self._schemas: dict[str, int] = {}  # message type -> schema id in the current file
        self._flushed = 0  # bytes of the current file handed to the OS
        self._open_next_file()

    # -- public API ---------------------------------------------------------------------------
    @property
    def files(self) -> list[Path]:
        """The files written so far, the current one last."""
        return [f.path for f in self._files]

    def add_topic(self, name: str, type_name: str, offered_qos_profiles: str = "") -> None:
        """Declare a topic of ``type_name`` ("pkg/msg/Type") before writing its messages.

        LookupError when the type's .msg file is not installed (see ``definitions``).
        """
        if name in self._topics:
            if self._topics[name].definition.type != type_name:
                raise ValueError(f"topic {name} was added as {self._topics[name].definition.type}, not {type_name}")
            return
        self._topics[name] = _Topic(name, message_definition(type_name), offered_qos_profiles)
        self._register(self._topics[name])

    def write(self, topic: str, data: bytes, log_time: int | None = None, publish_time: int | None = None,
              sequence: int = 0) -> None:
        """Append one serialized (CDR) message; times in ns since the epoch, log time defaulting to now."""
        if topic not in self._topics:
            raise KeyError(f"topic {topic} was not added to the recording (add_topic first)")
        log_time = time.time_ns() if log_time is None else log_time
        current = self._files[-1]
        if (self.config.max_file_seconds and current.message_count
                and log_time - current.starting_time >= self.config.max_file_seconds * 1e9):
            self._rotate()
            current = self._files[-1]
        self._writer.add_message(current.channels[topic], log_time, data,
                                 log_time if publish_time is None else publish_time, sequence)
        if not current.message_count:
            current.starting_time = log_time
        current.end_time = max(current.end_time, log_time)
        current.message_count += 1
        self._topics[topic].message_count += 1
        self._hand_finished_chunks_to_os()
        if self.config.max_file_bytes and self._stream.tell() >= self.config.max_file_bytes:
            self._rotate()

    def flush(self) -> None:
        """Finish the chunk in progress and hand it to the OS: what was written so far survives a kill."""
        self._writer.flush()
        self._flushed = self._stream.tell()

    def close(self) -> None:
        """Finish the current file and metadata.yaml; the recording is then complete."""
        if self._writer is not None:
            self._finish_file()
            self._write_metadata()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- files ----------------------------------------------------------------------------------
    def _open_next_file(self) -> None:
        path = self.folder / f"{self.folder.name}_{len(self._files)}.mcap"
        self._stream = open(path, "xb")  # noqa: SIM115 -- closed by _finish_file
        self._writer = Writer(self._stream, chunk_size=self.config.chunk_bytes,
                              compression=COMPRESSIONS[self.config.compression])
        self._writer.start(profile=PROFILE, library=LIBRARY)
        self._files.append(_File(path))
        for topic in self._topics.values():
            self._register(topic)
        self.flush()
        self._write_metadata()

    def _register(self, topic: _Topic) -> None:
        """Write the topic's schema (once per type and file) and channel into the current file."""
        definition = topic.definition
        if definition.type not in self._schemas:
            self._schemas[definition.type] = self._writer.register_schema(definition.type, ENCODING,
                                                                          definition.text.encode())
        self._files[-1].channels[topic.name] = self._writer.register_channel(
            topic.name, MessageEncoding.CDR, self._schemas[definition.type],
            {"offered_qos_profiles": topic.offered_qos_profiles, "topic_type_hash": definition.type_hash},
        )

    def _rotate(self) -> None:
        self._finish_file()
        self._open_next_file()

    def _finish_file(self) -> None:
        self._writer.add_metadata("rosbag2", {"serialized_metadata": yaml.safe_dump(self._metadata(), sort_keys=False)})
        self._writer.finish()
        self._stream.close()
        self._writer, self._stream, self._schemas = None, None, {}

    def _hand_finished_chunks_to_os(self) -> None:
        """The mcap writer writes a chunk into a buffered file once it is full: pass it on at once."""
        position = self._stream.tell()
        if position != self._flushed:
            self._stream.flush()
            self._flushed = position

    # -- metadata -------------------------------------------------------------------------------
    def _metadata(self) -> dict:
        """rosbag2's BagMetadata: the recording's files, topics and message counts so far."""
        started = [f for f in self._files if f.message_count]
        start = min((f.starting_time for f in started), default=0)
        end = max((f.end_time for f in started), default=0)
        return {
            "version": METADATA_VERSION,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": end - start},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": sum(f.message_count for f in self._files),
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": topic.name,
                        "type": topic.definition.type,
                        "serialization_format": MessageEncoding.CDR,
                        "offered_qos_profiles": topic.offered_qos_profiles,
                        "type_description_hash": topic.definition.type_hash,
                    },
                    "message_count": topic.message_count,
                }
                for topic in self._topics.values()
            ],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [f.path.name for f in self._files],
            "files": [
                {
                    "path": f.path.name,
                    "starting_time": {"nanoseconds_since_epoch": f.starting_time},
                    "duration": {"nanoseconds": f.end_time - f.starting_time},
                    "message_count": f.message_count,
                }
                for f in self._files
            ],
            "custom_data": {},
            "ros_distro": os.environ.get("ROS_DISTRO", ""),
        }

    def _write_metadata(self) -> None:
        """Replace metadata.yaml in one step: a crash leaves the old one or the new one, never half of one."""
        text = yaml.safe_dump({"rosbag2_bagfile_information": self._metadata()}, sort_keys=False)
        staged = self.folder / f".{METADATA_NAME}.tmp"
        staged.write_text(text)
        os.replace(staged, self.folder / METADATA_NAME)
