"""Expert for stack: pick the top cube, lower it onto the base cube until it touches, let go."""

from sim.experts.expert import CARRY_HEIGHT, Expert, Phase

CLEARANCE = 0.006  # m, gap left under the carried cube before letting go


class StackExpert(Expert):
    def plan(self) -> list[Phase]:
        top, base = self.task.goal.a, self.task.goal.b
        resting = (self.task.sizes[top] + self.task.sizes[base]) / 2 + CLEARANCE
        return [
            *self.pick(top),
            Phase("carry", self.above(base, CARRY_HEIGHT), closed=self.grip(top), tolerance=0.02),
            Phase("lower", self.above(base, resting), closed=self.grip(top), tolerance=0.006, speed=0.15),
            *self.release(self.above(base, resting)),
        ]
