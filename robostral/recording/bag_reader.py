"""Read a recording folder (rosbag2's MCAP layout) back as decoded messages, per topic.

Files are read in order (NAME_0.mcap, NAME_1.mcap, ...), each front to back, so a file that
a killed recorder left without its summary is read up to its last complete chunk, with a
warning. Messages are decoded from the schemas in the files (mcap_ros2): no ROS install
is needed. Works on recordings of ``robostral-recorder`` and of ``ros2 bag record -s mcap``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcap.reader import NonSeekingReader
from mcap_ros2.decoder import DecoderFactory

FILE_NUMBER = re.compile(r"_(\d+)\.mcap$")


class RecordingError(ValueError):
    """A recording that cannot be used: missing, empty, or without what a conversion needs."""


@dataclass(frozen=True)
class BagMessage:
    log_time: int  # ns since the epoch: when the recorder received it
    publish_time: int  # ns since the epoch: when it was sent
    message: Any  # the decoded message: fields as attributes (msg.header.stamp.sec, msg.data, ...)


@dataclass(frozen=True)
class Recording:
    folder: Path
    types: dict[str, str]  # topic -> message type, e.g. "sensor_msgs/msg/JointState"
    messages: dict[str, list[BagMessage]]  # topic -> its messages in log-time order
    truncated: list[str]  # files that ended early, read up to their last complete chunk


def recording_files(folder: str | os.PathLike) -> list[Path]:
    """The MCAP files of a recording in the order they were written (by their _N suffix)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: no such recording folder")
    files = list(folder.glob("*.mcap"))
    if not files:
        raise RecordingError(f"{folder}: no .mcap files; is it a recording folder?")

    def order(path: Path) -> tuple[int, str]:
        match = FILE_NUMBER.search(path.name)
        return (int(match.group(1)) if match else -1, path.name)

    return sorted(files, key=order)


def read_bag(folder: str | os.PathLike, topics: Iterable[str] | None = None) -> Recording:
    """Every message of ``topics`` (default: all) in the recording at ``folder``, decoded."""
    wanted = None if topics is None else set(topics)
    types: dict[str, str] = {}
    messages: dict[str, list[BagMessage]] = {}
    truncated = []
    factory = DecoderFactory()
    for path in recording_files(folder):
        records, error = _read_records(path, wanted)
        if error is not None:
            truncated.append(path.name)
            warnings.warn(f"{path}: ends early ({type(error).__name__}: {error}); read up to its last complete "
                          "chunk (a recorder killed while writing leaves such a file)", stacklevel=2)
        decoders = {}  # schema id (per file) -> decoder
        for schema, channel, message in records:
            if schema.id not in decoders:
                decoders[schema.id] = factory.decoder_for(channel.message_encoding, schema)
            types[channel.topic] = schema.name
            messages.setdefault(channel.topic, []).append(
                BagMessage(message.log_time, message.publish_time, decoders[schema.id](message.data)))
    for topic_messages in messages.values():
        topic_messages.sort(key=lambda m: m.log_time)
    return Recording(Path(folder).resolve(), types, messages, truncated)


def _read_records(path: Path, topics: set[str] | None) -> tuple[list[tuple], Exception | None]:
    """The (schema, channel, message) records of one file front to back, and the error that ended it early.

    A file cut anywhere (a killed writer) fails in many ways (end of file, short read, CRC
    or decompression error of the cut chunk): any error stops the reading at that point.
    """
    records = []
    with open(path, "rb") as stream:
        try:
            for record in NonSeekingReader(stream, validate_crcs=True).iter_messages(topics, log_time_order=False):
                records.append(record)
        except Exception as error:  # noqa: BLE001 -- see the docstring
            return records, error
    return records, None
