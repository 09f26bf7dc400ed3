"""Spike detection and forecast on synthetic series with known answers."""

from __future__ import annotations

from cyberfusion.trends import detect


def test_the_known_spike_and_only_it_is_flagged():
    series = [10, 12, 9, 11, 10, 13, 11, 10, 41, 12, 11]
    found = detect.spikes(series)
    assert [(s.index, s.value, s.baseline_median, s.baseline_mad) for s in found] == [(8, 41, 10.5, 0.5)]
    assert found[0].z == round(0.6745 * (41 - 10.5) / 0.5, 2) == 41.14


def test_no_spike_in_noise_or_small_counts_or_hidden_cells():
    assert detect.spikes([10, 14, 8, 12, 9, 15, 11, 13, 16, 10]) == []
    assert detect.spikes([0, 0, 0, 0, 0, 4]) == []            # below the minimum count
    assert detect.spikes([None, 5, None, 6, 40]) == []        # baseline too short once hidden cells are dropped
    assert detect.spikes([3, None, 4, 3, None, 4, None, 3, None]) == []


def test_a_jump_from_a_flat_line_scores_by_its_size():
    found = detect.spikes([2, 2, 2, 2, 2, 2, 9])
    assert [(s.index, s.z) for s in found] == [(6, 7.0)]


def test_forecast_follows_a_linear_trend_with_a_band():
    fc = detect.forecast([10, 12, 14, 16, 18, 20, 22, 24], horizon=3)
    assert fc.values == [26.0, 28.0, 30.0]
    assert fc.lower == fc.values == fc.upper  # a perfect line has no residual spread
    noisy = detect.forecast([10, 13, 14, 15, 18, 21, 22, 23], horizon=2)
    assert all(lo < v < hi for lo, v, hi in zip(noisy.lower, noisy.values, noisy.upper))
    assert noisy.upper[1] - noisy.lower[1] > noisy.upper[0] - noisy.lower[0]  # widens with the horizon
    assert detect.forecast([1, None, 2], horizon=2) is None
