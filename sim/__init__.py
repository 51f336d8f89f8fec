"""Robostral's simulator: industrial arms, language-conditioned tasks and scripted experts in PyBullet.

Importing ``sim`` registers one Gymnasium id per task, ``robostral/<Task>-v0``;
the robot is chosen with ``gymnasium.make(id, robot="xarm6")``.
"""

import gymnasium

from sim.tasks import TASKS

ENV_IDS: dict[str, str] = {}
for _name, _cls in TASKS.items():
    ENV_IDS[_name] = f"robostral/{''.join(part.title() for part in _name.split('_'))}-v0"
    if ENV_IDS[_name] not in gymnasium.registry:
        gymnasium.register(
            id=ENV_IDS[_name],
            entry_point="sim.env:RobotTaskEnv",
            kwargs={"task": _name},
            max_episode_steps=_cls.max_episode_steps,
        )
