"""The bring-up graphs of launch/graph.yaml: which nodes each cell runs and the parameter file they share.

``ros2 launch`` (launch/*.launch.py) and ``robostral up`` both read this, so the
graph a ROS 2 install launches is the graph ``robostral up`` starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"
GRAPH_FILE = LAUNCH_DIR / "graph.yaml"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str  # console entry point, what `ros2 run robostral <executable>` starts
    module: str  # robostral.ros.<module>, what `robostral up` starts with this Python (from `executables`)
    lifecycle: bool = False  # driven through configure and activate after start
    optional: bool = False  # started only when asked for (the recorder)
    latches: bool = False  # starts latched after any (re)start until an engineer's reset (the safety supervisor)


@dataclass(frozen=True)
class Graph:
    name: str
    parameters: Path  # ROS 2 params file shared by every node of the graph
    nodes: tuple[NodeSpec, ...]
    release_latch: bool = False  # `robostral up` resets the latching node once at first start (simulated cells)

    def selected(self, optional: tuple[str, ...] = ()) -> tuple[NodeSpec, ...]:
        """The nodes to start: every required one plus the optional ones named."""
        return tuple(n for n in self.nodes if not n.optional or n.name in optional)

    def parameter(self, node: str, name: str) -> Any:
        """A node's parameter as the parameter file sets it; None where the file does not."""
        document = yaml.safe_load(self.parameters.read_text()) or {}
        return (document.get(node) or {}).get("ros__parameters", {}).get(name)


EXECUTABLES = "executables"  # the file's map of node executable -> robostral.ros module, not a graph


def load_graph(name: str, path: Path = GRAPH_FILE) -> Graph:
    """The graph ``name`` (sim or hardware); ValueError naming what is wrong in the file."""
    document = yaml.safe_load(path.read_text())
    graphs = [key for key in document if key != EXECUTABLES] if isinstance(document, dict) else []
    if name not in graphs:
        raise ValueError(f"{path}: no graph {name!r} (graphs: {', '.join(graphs) or 'none'})")
    entry = document[name]
    try:
        modules = document[EXECUTABLES]
        unknown = [node["executable"] for node in entry["nodes"] if node["executable"] not in modules]
        if unknown:
            raise ValueError(f"{path}: graph {name!r} runs {', '.join(unknown)}, not listed in {EXECUTABLES}")
        nodes = tuple(NodeSpec(**node, module=modules[node["executable"]]) for node in entry["nodes"])
        parameters = (path.parent / entry["parameters"]).resolve()
        release_latch = entry.get("release_latch", False)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: graph {name!r} is malformed ({error})") from None
    if not isinstance(release_latch, bool):
        raise ValueError(f"{path}: graph {name!r}: release_latch must be true or false, got {release_latch!r}")
    if not parameters.exists():
        raise ValueError(f"{path}: graph {name!r} names a missing parameter file {parameters}")
    return Graph(name, parameters, nodes, release_latch)
