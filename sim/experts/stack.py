"""Expert for stack: pick the top cube, lower it onto the base cube until it touches, let go."""

from functools import partial

from sim.experts.expert import Expert, Phase

CLEARANCE = 0.006  # m, gap left under the carried cube before letting go


class StackExpert(Expert):
    def plan(self) -> list[Phase]:
        top, base = self.task.goal.a, self.task.goal.b
        resting = (self.task.sizes[top] + self.task.sizes[base]) / 2 + CLEARANCE
        on_base = partial(self.lies_on, top, base, self.task.sizes[base] / 2)
        return [*self.pick(top), *self.place(top, base, resting, on_base, tolerance=0.006, speed=0.15)]
