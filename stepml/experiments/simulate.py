"""A vectorized simulator of experiment readouts: many experiments at once, through the readout's own statistics.

Each simulated experiment (one per seed) hashes units ``0 .. n-1`` into variants by their weights, loses the
units of a variant with a given probability (``drop``: a broken split, e.g. a logging bug in one arm), and draws
per-unit outcomes with a planted relative lift per variant:

* :class:`Bernoulli` -- a conversion, ``x ~ Bernoulli(rate (1 + lift))``;
* :class:`Poisson` -- a count, ``x ~ Poisson(mean (1 + lift))``;
* :class:`ClickThrough` -- a ratio metric, ``impressions y ~ 1 + Poisson(impressions - 1)``, a per-unit
  click-through ``p ~ Beta`` with mean ``ctr`` (so a unit's clicks are correlated), ``clicks x ~ Binomial(y,
  p (1 + lift))``; its true value per variant is ``ctr (1 + lift)``.

The assignment hash is a vectorized 64-bit mixer (splitmix64's finalizer over the seed and the unit), not the
production sha256: it is uniform in the same way and fast enough for millions of units per second. Outcomes come
from numpy generators seeded per block of seeds (blocks sized from ``n_units`` only), so a result depends only
on ``(n_units, seeds, seed)`` and the settings. Only per-(seed, variant) sums are kept; the readout's statistics
(``stepml.experiments.moments``) run on all simulations at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from stepml.experiments.moments import FloatArray, Kind, LiftArrays, Moments, fail, lift, point_and_se, srm_pvalues

ROWS_PER_BLOCK = 4_000_000  # simulated units held in memory at once
_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class Bernoulli:
    rate: float
    kind: Kind = field(default="mean", init=False)


@dataclass(frozen=True)
class Poisson:
    mean: float
    kind: Kind = field(default="mean", init=False)


@dataclass(frozen=True)
class ClickThrough:
    ctr: float
    impressions: float = 5.0  # mean impressions per unit (>= 1)
    concentration: float = 20.0  # Beta(ctr c, (1 - ctr) c): lower is more heterogeneous
    kind: Kind = field(default="ratio", init=False)


Metric = Bernoulli | Poisson | ClickThrough


def mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finalizer: a bijective 64-bit hash (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def unit_uniforms(seeds: npt.NDArray[np.uint64], n_units: int, stream: int) -> FloatArray:
    """Uniforms in [0, 1) per (seed, unit): ``mix64(mix64(seed + stream * golden) + unit * golden)``."""
    key = mix64(seeds.astype(np.uint64) + np.uint64(stream * int(_GOLDEN) % 2**64))
    units = np.arange(n_units, dtype=np.uint64) * _GOLDEN
    h = mix64(key[:, None] + units[None, :])
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass(frozen=True)
class Simulation:
    """Per-(seed, variant) units and moments of many simulated experiments (rows: seeds, columns: variants)."""

    variants: tuple[str, ...]
    weights: FloatArray
    counts: npt.NDArray[np.int64]
    moments: Moments | None  # None when no metric was simulated
    kind: Kind
    true_values: FloatArray  # the metric's expected value per variant

    def srm_pvalues(self) -> FloatArray:
        """The SRM test's p-value of each simulated experiment against the configured weights."""
        return srm_pvalues(self.counts, self.weights)[1]

    def compare(self, control: str, treatment: str, *, alpha: float = 0.05) -> LiftArrays:
        """The readout's lift of ``treatment`` over ``control`` in each simulated experiment."""
        if self.moments is None:
            raise fail("metric", "the simulation drew no outcomes (metric=None)")
        c, t = self._index(control), self._index(treatment)
        value, se = point_and_se(self.moments, self.kind)
        return lift(value[:, c], se[:, c], value[:, t], se[:, t], alpha)

    def true_lift(self, control: str, treatment: str) -> tuple[float, float]:
        """(absolute, relative) true lift of ``treatment`` over ``control``."""
        c, t = self.true_values[self._index(control)], self.true_values[self._index(treatment)]
        return float(t - c), float(t / c - 1)

    def _index(self, name: str) -> int:
        if name not in self.variants:
            raise fail("variant", f"unknown variant {name!r} (variants: {list(self.variants)})")
        return self.variants.index(name)


def simulate(
    n_units: int,
    weights: Mapping[str, float],
    *,
    seeds: int,
    metric: Metric | None,
    lift: Mapping[str, float] | None = None,
    drop: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Simulation:
    """``seeds`` experiments of ``n_units`` units each; ``lift``: relative lift per variant (default 0);
    ``drop``: probability a unit of the variant is lost (default 0)."""
    names, w = _checked(n_units, weights, seeds, lift, drop, metric)
    lifts = np.array([float((lift or {}).get(v, 0.0)) for v in names])
    drops = np.array([float((drop or {}).get(v, 0.0)) for v in names])
    k = len(names)
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    sums = np.zeros((6, seeds * k))  # n, sx, sxx, sy, syy, sxy
    per_block = max(1, ROWS_PER_BLOCK // n_units)
    for block, lo in enumerate(range(0, seeds, per_block)):
        hi = min(seeds, lo + per_block)
        ids = np.arange(lo, hi, dtype=np.uint64) + np.uint64((seed << 32) % 2**64)
        variant = np.searchsorted(cum, unit_uniforms(ids, n_units, 0), side="right")
        cell = np.arange(lo, hi)[:, None] * k + variant
        kept = unit_uniforms(ids, n_units, 1) >= drops[variant] if drops.any() else np.ones(cell.shape, dtype=bool)
        cell = cell[kept]
        sums[0] += np.bincount(cell, minlength=seeds * k)
        if metric is None:
            continue
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(n_units, block)))
        x, y = _outcomes(metric, rng, variant, lifts)
        columns = [x, x * x] if y is None else [x, x * x, y, y * y, x * y]
        for row, values in enumerate(columns, start=1):
            sums[row] += np.bincount(cell, weights=values[kept], minlength=seeds * k)
    s = sums.reshape(6, seeds, k)
    counts = s[0].astype(np.int64)
    if metric is None:
        return Simulation(tuple(names), w, counts, None, "mean", np.zeros(k))
    if isinstance(metric, ClickThrough):
        moments = Moments.from_sums(s[0], s[1], s[2], s[3], s[4], s[5])
        base = metric.ctr
    else:
        moments = Moments.from_sums(s[0], s[1], s[2])
        base = metric.rate if isinstance(metric, Bernoulli) else metric.mean
    return Simulation(tuple(names), w, counts, moments, metric.kind, base * (1 + lifts))


def _outcomes(
    metric: Metric, rng: np.random.Generator, variant: npt.NDArray[np.intp], lifts: FloatArray
) -> tuple[FloatArray, FloatArray | None]:
    factor = 1 + lifts[variant]
    if isinstance(metric, Bernoulli):
        return (rng.random(variant.shape) < metric.rate * factor).astype(np.float64), None
    if isinstance(metric, Poisson):
        return rng.poisson(metric.mean * factor).astype(np.float64), None
    c = metric.concentration
    y = 1 + rng.poisson(metric.impressions - 1, variant.shape)
    p = np.minimum(rng.beta(metric.ctr * c, (1 - metric.ctr) * c, variant.shape) * factor, 1.0)
    return rng.binomial(y, p).astype(np.float64), y.astype(np.float64)


def _checked(
    n_units: int,
    weights: Mapping[str, float],
    seeds: int,
    lift: Mapping[str, float] | None,
    drop: Mapping[str, float] | None,
    metric: Metric | None,
) -> tuple[list[str], FloatArray]:
    for name, value in (("n_units", n_units), ("seeds", seeds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise fail(name, f"expected an integer >= 1, got {value!r}")
    names = list(weights)
    w = np.array([float(weights[v]) for v in names])
    if len(names) < 2 or not (np.isfinite(w).all() and (w > 0).all()):
        raise fail("weights", f"expected two or more variants with finite weights > 0, got {dict(weights)}")
    for what, values, low, high in (("lift", lift, -1.0, np.inf), ("drop", drop, 0.0, 1.0)):
        for v, x in (values or {}).items():
            if v not in weights:
                raise fail(what, f"unknown variant {v!r} (variants: {names})")
            if not (isinstance(x, float | int) and np.isfinite(x) and low <= x < high):
                raise fail(what, f"variant {v!r}: expected a value in [{low}, {high}), got {x!r}")
    rate = metric.rate if isinstance(metric, Bernoulli) else metric.ctr if isinstance(metric, ClickThrough) else None
    if rate is not None and not 0 < rate < 1:
        raise fail("metric", f"expected a rate strictly between 0 and 1, got {rate!r}")
    if isinstance(metric, Poisson) and not metric.mean > 0:
        raise fail("metric", f"expected a mean > 0, got {metric.mean!r}")
    if isinstance(metric, ClickThrough) and not (metric.impressions >= 1 and metric.concentration > 0):
        raise fail("metric", "expected impressions >= 1 and concentration > 0")
    return names, w
