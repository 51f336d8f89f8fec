"""The Gymnasium ids of the simulator's envs, registered on import: one per task, ``robostral/<Task>-v0``.

The robot is chosen with ``gymnasium.make(id, robot="xarm6")`` (a shipped arm's name, or the path of a
description file). ``robostral/Chain-v0`` is the scene of instruction chains (``sim.tasks.chain``): not one
of the tasks, but an env that demonstrations are recorded in, one link per episode.
"""

import gymnasium

from sim.tasks import TASKS
from sim.tasks.chain import LINK_STEPS, ChainScene

ENV_IDS: dict[str, str] = {}  # what ``sim.rollout.make_env`` makes: the tasks, and the chain scene
for _name, _task, _steps in [*((name, name, cls.max_episode_steps) for name, cls in TASKS.items()),
                             ("chain", ChainScene, LINK_STEPS)]:
    ENV_IDS[_name] = f"robostral/{''.join(part.title() for part in _name.split('_'))}-v0"
    if ENV_IDS[_name] not in gymnasium.registry:
        gymnasium.register(
            id=ENV_IDS[_name], entry_point="sim.env:RobotTaskEnv", kwargs={"task": _task}, max_episode_steps=_steps
        )
