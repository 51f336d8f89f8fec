"""The policy bundles the pendant offers: those under ``policies_dir``, with whether they verify and their figures.

Only a bundle that verifies (hashes, and the signature where keys are trusted) and passed its
card's gate may be deployed, as for ``robostral policies promote``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from robostral.bundle.promote import NAME, list_policies
from robostral.pendant.errors import Conflict, NotFound


def bundles(policies_dir: str | Path) -> list[dict]:
    """One entry per bundle: name, robot, verifies, problem, gate, evaluation, deployable (empty if no folder)."""
    if not Path(policies_dir).is_dir():
        return []
    return [{**dataclasses.asdict(entry), "verifies": not entry.problem,
             "deployable": not entry.problem and entry.gate == "pass"} for entry in list_policies(policies_dir)]


def deployable(policies_dir: str | Path, name: object) -> Path:
    """The absolute path of bundle ``name``; NotFound, or Conflict if it does not verify or did not pass its gate."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise NotFound(f"no policy bundle named {name!r:.80}")
    entry = next((e for e in bundles(policies_dir) if e["name"] == name), None)
    if entry is None:
        raise NotFound(f"no policy bundle named {name!r} in {policies_dir}")
    if entry["problem"]:
        raise Conflict(f"bundle {name!r} does not verify: {entry['problem']}")
    if entry["gate"] != "pass":
        raise Conflict(f"bundle {name!r} did not pass its gate ({entry['gate']}): it may not be deployed")
    return (Path(policies_dir) / name).resolve()
