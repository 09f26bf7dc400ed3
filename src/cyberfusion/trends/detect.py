"""Spike detection (robust z-score against a trailing median) and a short-horizon forecast.

Pure functions over lists of counts, where ``None`` marks a cell hidden by the
k-threshold: it is neither a spike nor part of any baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

Z_THRESHOLD = 3.5     # Iglewicz & Hoaglin's cut-off for the modified z-score
BASELINE = 8          # trailing buckets the current one is compared with
MIN_BASELINE = 4      # fewer known buckets than this: no verdict
MIN_COUNT = 5         # a rise to fewer than this many is not called a spike


@dataclass(frozen=True, slots=True)
class Spike:
    index: int
    value: int
    baseline_median: float
    baseline_mad: float
    z: float
    baseline_size: int


def _mad(values: list[float], centre: float) -> float:
    return median(abs(v - centre) for v in values)


def robust_z(value: float, baseline: list[float]) -> tuple[float, float, float]:
    """(modified z-score, median, MAD) of a value against a baseline.

    When over half the baseline is one value the MAD is 0; the scale then falls back to
    the mean absolute deviation, and to 1 for a perfectly flat baseline, so that a jump
    from a flat line still scores by how many units it rose.
    """
    m = median(baseline)
    mad = _mad(baseline, m)
    if mad > 0:
        return 0.6745 * (value - m) / mad, m, mad
    mean_ad = sum(abs(v - m) for v in baseline) / len(baseline)
    scale = 1.253314 * mean_ad if mean_ad > 0 else 1.0
    return (value - m) / scale, m, mad


def spikes(values: list[int | None], *, window: int = BASELINE, threshold: float = Z_THRESHOLD,
           min_count: int = MIN_COUNT) -> list[Spike]:
    out: list[Spike] = []
    for i, v in enumerate(values):
        if v is None or v < min_count:
            continue
        baseline = [float(x) for x in values[max(0, i - window):i] if x is not None]
        if len(baseline) < MIN_BASELINE:
            continue
        z, m, mad = robust_z(float(v), baseline)
        if z >= threshold:
            out.append(Spike(i, v, m, mad, round(z, 2), len(baseline)))
    return out


@dataclass(frozen=True, slots=True)
class Forecast:
    values: list[float]
    lower: list[float]
    upper: list[float]
    method: str


def _theil_sen(xs: list[float], ys: list[float]) -> tuple[float, float]:
    slopes = [(ys[j] - ys[i]) / (xs[j] - xs[i]) for i in range(len(xs)) for j in range(i + 1, len(xs))
              if xs[j] != xs[i]]
    slope = median(slopes) if slopes else 0.0
    intercept = median(y - slope * x for x, y in zip(xs, ys))
    return slope, intercept


def forecast(values: list[int | None], *, horizon: int = 4, history: int = 12) -> Forecast | None:
    """Theil–Sen trend over the last known buckets, with a band of ±1.96 robust residual
    deviations widening with the horizon (about 95% if residuals were normal). None when
    fewer than four buckets are known."""
    known = [(float(i), float(v)) for i, v in enumerate(values) if v is not None][-history:]
    if len(known) < 4 or horizon < 1:
        return None
    xs, ys = [k[0] for k in known], [k[1] for k in known]
    slope, intercept = _theil_sen(xs, ys)
    residuals = [y - (intercept + slope * x) for x, y in known]
    sigma = 1.4826 * _mad(residuals, median(residuals))
    if sigma == 0:
        sigma = (sum(r * r for r in residuals) / len(residuals)) ** 0.5
    last = float(len(values) - 1)
    vals, lo, hi = [], [], []
    for step in range(1, horizon + 1):
        point = max(0.0, intercept + slope * (last + step))
        width = 1.96 * sigma * (1 + step / len(known)) ** 0.5
        vals.append(round(point, 2))
        lo.append(round(max(0.0, point - width), 2))
        hi.append(round(point + width, 2))
    return Forecast(vals, lo, hi, "Theil–Sen trend, ±1.96 robust residual deviation")
