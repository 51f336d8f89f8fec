"""Statistics for success rates measured over a finite number of episodes."""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIGNIFICANCE = 0.05  # an exact McNemar p below this: a paired comparison changed


def success_summary(successes: int, n: int) -> dict:
    """A success rate with its 95% Wilson interval, as reports and cards keep it; rate None when n is 0."""
    low, high = wilson_interval(successes, n)
    return {"episodes": n, "successes": successes, "success_rate": successes / n if n else None,
            "ci_low": low, "ci_high": high}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a success rate (95% for z=1.96); (0, 1) when n is 0.

    The bounds always hold the rate ``successes / n`` itself (low is exactly 0.0 at no success,
    high exactly 1.0 at all successes): in exact arithmetic they do, but the floating-point
    formula can land a hair inside it (100 of 100 gave a high of 0.9999999999999999), which
    would make an error bar negative.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def error_bars(summaries: Sequence[Mapping[str, float]]) -> tuple[list[float], list[float]]:
    """How far each summary's interval reaches below and above its rate (``success_summary``'s keys), as
    matplotlib's ``yerr`` takes them; never negative, which matplotlib refuses."""
    below = [max(0.0, s["success_rate"] - s["ci_low"]) for s in summaries]
    above = [max(0.0, s["ci_high"] - s["success_rate"]) for s in summaries]
    return below, above


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of paired successes and failures.

    ``b`` counts the pairs where the first (baseline) succeeded and the second
    failed, ``c`` the reverse; pairs that agree carry no evidence. Under the null
    hypothesis (neither is better) each of the ``b + c`` discordant pairs goes
    either way with probability 1/2, so the p-value is twice the binomial tail
    ``P(X <= min(b, c))`` for X ~ Binomial(b + c, 1/2), capped at 1; it is 1
    when there are no discordant pairs. Exact integer arithmetic (no scipy).
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be a count (a non-negative int), got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be a non-negative count, got {value}")
    n, k = int(b) + int(c), min(int(b), int(c))
    if n == 0:
        return 1.0
    term, tail = 1, 1  # C(n, 0); each next term is C(n, i + 1) = C(n, i) * (n - i) / (i + 1)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class Paired:
    """Episodes of a baseline and a new version paired by what they share (a seed): how often each side alone
    succeeded, and the exact McNemar test of that."""

    b: int = 0  # the baseline succeeded, the new version failed
    c: int = 0  # the baseline failed, the new version succeeded
    both: int = 0
    neither: int = 0

    @property
    def pairs(self) -> int:
        return self.b + self.c + self.both + self.neither

    @property
    def p(self) -> float:
        return mcnemar_exact(self.b, self.c)

    @property
    def verdict(self) -> str:
        if self.p >= SIGNIFICANCE:
            return "no significant change"
        return "better" if self.c > self.b else "worse"

    def __add__(self, other: Paired) -> Paired:
        return Paired(self.b + other.b, self.c + other.c, self.both + other.both, self.neither + other.neither)

    @classmethod
    def of(cls, baseline: Mapping[Hashable, bool], new: Mapping[Hashable, bool]) -> Paired:
        """Pair the outcomes both mappings hold under the same key; keys only one side has are left out."""
        counts = {"b": 0, "c": 0, "both": 0, "neither": 0}
        for key, succeeded in new.items():
            if key in baseline:
                old = bool(baseline[key])
                counts["both" if old and succeeded else "b" if old else "c" if succeeded else "neither"] += 1
        return cls(**counts)

    def as_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "b": self.b, "c": self.c, "p": self.p, "verdict": self.verdict,
                "baseline": success_summary(self.both + self.b, self.pairs),
                "new": success_summary(self.both + self.c, self.pairs)}
