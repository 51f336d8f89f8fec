"""Expert for pick_place: pick the cube, carry it over the bin, lower it in and let go."""

from functools import partial

from sim.experts.expert import Expert, Phase

DROP_HEIGHT = 0.07  # m, tool height above the bin floor when letting go


class PickPlaceExpert(Expert):
    def plan(self) -> list[Phase]:
        cube, target = self.task.goal.a, self.task.goal.b
        in_bin = partial(self.lies_on, cube, target, self.task.bin_inner_half)
        return [*self.pick(cube), *self.place(cube, target, DROP_HEIGHT, in_bin, tolerance=0.01)]
