"""Expert for reach: straight to the hover point over the named target."""

from sim.experts.expert import Expert, Phase


class ReachExpert(Expert):
    def plan(self) -> list[Phase]:
        return [Phase("reach", self.task.hover_point, tolerance=0.01)]
