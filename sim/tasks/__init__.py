"""The tasks the simulator knows, by name."""

from sim.tasks.pick_place import PickPlace
from sim.tasks.push import Push
from sim.tasks.reach import Reach
from sim.tasks.stack import Stack
from sim.tasks.task import Task

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (Reach, Push, PickPlace, Stack)}


def task_class(name: str | type[Task]) -> type[Task]:
    """The class of a known task; a clear error names the ones that exist.

    A ``Task`` subclass passes through: a scene that is not registered (e.g. evaluation chains).
    """
    if isinstance(name, type) and issubclass(name, Task):
        return name
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}") from None


__all__ = ["TASKS", "Task", "task_class"]
