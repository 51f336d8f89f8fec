"""Success-rate statistics: the Wilson interval always holds its rate, exact McNemar p-values, error bars."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robostral.stats import error_bars, mcnemar_exact, success_summary, wilson_interval

# --- Wilson interval ----------------------------------------------------------------------------------------------


def test_all_or_nothing_intervals_end_exactly_at_the_rate():
    for n in range(1, 1001):
        low, high = wilson_interval(0, n)
        assert low == 0.0 and 0.0 < high <= 1.0, n
        low, high = wilson_interval(n, n)
        assert high == 1.0 and 0.0 <= low < 1.0, n  # 100 of 100 once gave a high of 0.9999999999999999


@given(st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_the_interval_holds_the_rate_within_zero_and_one(counts):
    k, n = counts
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_known_wilson_interval():
    assert wilson_interval(24, 40) == pytest.approx((0.4460, 0.7365), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_error_bars_are_never_negative():
    summaries = [success_summary(n, n) for n in range(1, 1001)] + [success_summary(0, n) for n in range(1, 1001)]
    below, above = error_bars(summaries)
    assert min(below) >= 0.0 and min(above) >= 0.0
    skewed = {"success_rate": 1.0, "ci_low": 0.9, "ci_high": 0.9999999999999999}  # a summary from an older report
    assert error_bars([skewed]) == ([pytest.approx(0.1)], [0.0])


# --- McNemar -------------------------------------------------------------------------------------------------------


def test_mcnemar_exact_known_values():
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(1, 0) == 1.0  # one discordant pair: p = 2 * 1/2, capped at 1
    for b, c in ((0, 10), (2, 8), (3, 17), (40, 70)):
        assert mcnemar_exact(b, c) == mcnemar_exact(c, b)
    assert mcnemar_exact(400, 520) < 0.001 < mcnemar_exact(400, 450)


@pytest.mark.parametrize("b, c, error", [(-1, 3, ValueError), (3, -2, ValueError), (1.5, 2, TypeError),
                                         (True, 2, TypeError), ("3", 2, TypeError), (2, None, TypeError)])
def test_mcnemar_exact_refuses_bad_counts(b, c, error):
    with pytest.raises(error):
        mcnemar_exact(b, c)
