"""Expert for push: get behind the cube on the line to the zone, lower the closed jaws, push.

The push direction is recomputed from the live cube pose every step; when the
cube slides off the line the expert lifts and approaches again from behind.
"""

from __future__ import annotations

import numpy as np

from sim.experts.expert import Expert, Phase

PUSH_HEIGHT = 0.015  # m, tool point height while pushing
STANDOFF = 0.035  # m, gap behind the cube face before the push starts
LEAD = 0.02  # m, how far into the cube the push waypoint leads
OFF_LINE = 0.02  # m, lateral error that triggers a new approach
DONE = 0.012  # m, cube-to-zone-centre distance that ends the push
HIGH = 0.08  # m, tool height on the way to the point behind the cube
BEHIND = 0.015  # m, horizontal tool distance from the point behind the cube that counts as there
LOW = 0.008  # m, tool above PUSH_HEIGHT that counts as low enough to push
SLACK = 0.02  # m, tool farther behind the cube face than STANDOFF that still counts as ready to push


class PushExpert(Expert):
    def plan(self) -> list[Phase]:
        return [
            Phase("behind_high", lambda: self.behind(HIGH), closed=1.0, tolerance=BEHIND, yaw=self.push_yaw),
            Phase("behind_low", lambda: self.behind(PUSH_HEIGHT), closed=1.0, tolerance=LOW, speed=0.2,
                  when=self.over_behind),
            Phase("push", self.push_point, closed=1.0, speed=0.12, done=self.pushed, when=self.pushing),
            Phase("retreat", self.lift(0.15), closed=1.0, tolerance=0.02, when=self.pushed),
        ]

    def direction(self) -> np.ndarray:
        """Unit vector (x, y, 0) from the cube to the zone centre."""
        delta = (self.sim.position(self.task.goal.b) - self.sim.position(self.task.goal.a)) * [1, 1, 0]
        return delta / max(np.linalg.norm(delta), 1e-6)

    def push_yaw(self) -> float:
        """Jaws across the push direction, so the closed fingers make a flat paddle."""
        d = self.direction()
        return float(np.arctan2(d[1], d[0]))

    def behind(self, height: float) -> np.ndarray:
        size = self.task.sizes[self.task.goal.a]
        point = self.sim.position(self.task.goal.a) - self.direction() * (size / 2 + STANDOFF)
        return np.array([point[0], point[1], height])

    def push_point(self) -> np.ndarray:
        size = self.task.sizes[self.task.goal.a]
        point = self.sim.position(self.task.goal.a) - self.direction() * (size / 2 - LEAD)
        return np.array([point[0], point[1], PUSH_HEIGHT])

    def pushed(self) -> bool:
        offset = (self.sim.position(self.task.goal.b) - self.sim.position(self.task.goal.a))[:2]
        return bool(np.linalg.norm(offset) < DONE)

    def act(self) -> np.ndarray:
        if self.phase == "push" and self.off_line():
            self.go_to(0)
        return super().act()

    def over_behind(self) -> bool:
        """The tool is over the point behind the cube, on its way down to it."""
        tool = self.robot.tool_position()
        return bool(np.linalg.norm((tool - self.behind(PUSH_HEIGHT))[:2]) < BEHIND and tool[2] < HIGH + BEHIND)

    def pushing(self) -> bool:
        """The tool is low behind the cube on its line to the zone, at most the standoff away from its face."""
        tool = self.robot.tool_position()
        size = self.task.sizes[self.task.goal.a]
        gap = -(tool - self.sim.position(self.task.goal.a))[:2] @ self.direction()[:2] - size / 2
        return bool(tool[2] < PUSH_HEIGHT + LOW and not self.off_line() and gap < STANDOFF + SLACK)

    def off_line(self) -> bool:
        """The tool is no longer behind the cube on the cube-to-zone line."""
        tool = self.robot.tool_position()
        cube = self.sim.position(self.task.goal.a)
        d = self.direction()
        relative = (tool - cube)[:2]
        lateral = abs(relative[0] * d[1] - relative[1] * d[0])
        return bool(lateral > OFF_LINE or relative @ d[:2] > 0)
