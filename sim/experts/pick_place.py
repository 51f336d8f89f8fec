"""Expert for pick_place: pick the cube, carry it over the bin, lower it in and let go."""

from sim.experts.expert import CARRY_HEIGHT, Expert, Phase

DROP_HEIGHT = 0.07  # m, tool height above the bin floor when letting go


class PickPlaceExpert(Expert):
    def plan(self) -> list[Phase]:
        cube, target = self.task.goal.a, self.task.goal.b
        return [
            *self.pick(cube),
            Phase("carry", self.above(target, CARRY_HEIGHT), closed=self.grip(cube), tolerance=0.02),
            Phase("lower", self.above(target, DROP_HEIGHT), closed=self.grip(cube), tolerance=0.01),
            *self.release(self.above(target, DROP_HEIGHT)),
        ]
