"""A bring-up graph's topic remaps: the cell's names for the topics its drivers provide and take.

launch/graph.yaml gives each graph an optional ``remap`` section, ``graph topic: cell topic``;
``robostral up`` starts every node with ``-r graph:=cell`` for each, and the launch files give
launch_ros the same pairs as ``remappings``: one section, read by both. Only the cell's interface
(``CELL_TOPICS``, and topics under them such as ``/camera/image_raw/compressed``) may be renamed:
the graph's own topics and services stay as robostral/ros/contract.py names them (the supervisor
serves its e-stop and reset from a node that takes no process remaps, on purpose). A malformed
section is refused whole, naming the file, the graph and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from rclpy.exceptions import InvalidTopicNameException
from rclpy.validate_full_topic_name import validate_full_topic_name

from robostral.ros import contract
from robostral.ros.graph import EXECUTABLES, GRAPH_FILE

REMAP = "remap"  # the key of a graph's section in graph.yaml
# What a cell's drivers provide (joint states, cameras) and take (the controllers' trajectories).
CELL_TOPICS = (contract.JOINT_STATES, contract.CAMERA_IMAGE, contract.WRIST_CAMERA_IMAGE, contract.ARM_TRAJECTORY,
               contract.GRIPPER_TRAJECTORY)
# Every name of the graph's contract: a cell topic may not be renamed onto one (a controller fed its own commands).
GRAPH_NAMES = frozenset(value for name, value in vars(contract).items()
                        if name.isupper() and isinstance(value, str) and value.startswith("/"))


@dataclass(frozen=True)
class Remaps:
    """(graph topic, cell topic) pairs, in the file's order; empty where the cell uses the graph's names."""

    pairs: tuple[tuple[str, str], ...] = ()

    def topic(self, name: str) -> str:
        """The cell's name for the graph's topic ``name`` (``name`` itself where it is not remapped)."""
        return dict(self.pairs).get(name, name)

    def ros_arguments(self) -> list[str]:
        """The ``-r FROM:=TO`` arguments that give a node these remaps (after ``--ros-args``)."""
        return [word for source, target in self.pairs for word in ("-r", f"{source}:={target}")]

    def describe(self) -> str:
        return ", ".join(f"{source} -> {target}" for source, target in self.pairs)


NO_REMAPS = Remaps()  # a graph whose cell names its topics as the graph does (the simulated cell)


def load_remaps(name: str, path: Path = GRAPH_FILE) -> Remaps:
    """The remaps of graph ``name`` in ``path`` (none where it has no ``remap`` section); ValueError saying what is
    wrong with a malformed one."""
    document = yaml.safe_load(path.read_text())
    entry = document.get(name) if isinstance(document, dict) and name != EXECUTABLES else None
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: no graph {name!r}")
    return check_remaps(entry.get(REMAP), f"{path}: graph {name!r}: {REMAP}")


def check_remaps(section: object, where: str = REMAP) -> Remaps:
    """The ``Remaps`` of a ``remap`` section as YAML reads it (None or a mapping); ValueError, prefixed by
    ``where``, naming the first entry that cannot be one."""
    if section is None:
        return Remaps()
    if not isinstance(section, dict):
        raise ValueError(f"{where} must map graph topics to the cell's (graph topic: cell topic), "
                         f"got {type(section).__name__} {section!r:.80}")
    pairs, targets = [], {}
    for source, target in section.items():
        entry = f"{where}: {source!r}"
        if not isinstance(source, str) or not any(source == t or source.startswith(t + "/") for t in CELL_TOPICS):
            raise ValueError(f"{entry} is not a topic of the cell's interface; those are "
                             f"{', '.join(CELL_TOPICS)} and topics under them")
        if not isinstance(target, str):
            raise ValueError(f"{entry}: the cell's topic must be a name, got {target!r}")
        try:
            validate_full_topic_name(target)
        except InvalidTopicNameException as error:  # its text points at the bad character
            raise ValueError(f"{entry}: {target!r} is no absolute ROS topic name: {error}") from None
        if target != source and target in GRAPH_NAMES:
            raise ValueError(f"{entry}: {target} is one of the graph's own names; a cell topic cannot take it")
        if target in targets:
            raise ValueError(f"{entry}: {target} is already the cell's name for {targets[target]}")
        targets[target] = source
        pairs.append((source, target))
    return Remaps(tuple(pairs))
