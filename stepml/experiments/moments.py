"""The vectorized core of the experiment statistics: per-variant moments, metric values with standard errors,
lifts with intervals, the SRM chi-square. Every function works on arrays of one entry per variant, or per
simulation and variant, so the simulator (``stepml.experiments.simulate``) runs thousands of experiments through
the same code as one readout (``stepml.experiments.stats``), which explains the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from stepml.errors import ExperimentError

STEP = "experiments"  # the step name of errors raised here; a step re-raises them with ``with_step``

FloatArray = npt.NDArray[np.float64]
Kind = Literal["mean", "ratio"]


def fail(field: str, message: str) -> ExperimentError:
    """The error of a bad input ``field`` (shared by the experiments modules)."""
    return ExperimentError(STEP, message, field=field)


def srm_pvalues(counts: npt.ArrayLike, weights: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(chi-square, p-value) per row of ``counts`` (``(..., k)`` units per variant) against ``weights`` (``k``)."""
    from scipy.special import chdtrc

    c = np.asarray(counts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    expected = c.sum(axis=-1, keepdims=True) * (w / w.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.where(expected > 0, (c - expected) ** 2 / expected, 0.0).sum(axis=-1)
    return chi2, np.clip(chdtrc(w.size - 1, chi2), 0.0, 1.0)


@dataclass(frozen=True)
class Moments:
    """Per-variant sample moments of per-unit values, as arrays of one shape (one entry per variant, or per
    simulation and variant). ``x`` is the metric (the numerator of a ratio); ``y`` the ratio's denominator."""

    n: FloatArray
    mean_x: FloatArray
    var_x: FloatArray
    mean_y: FloatArray | None = None
    var_y: FloatArray | None = None
    cov_xy: FloatArray | None = None

    @classmethod
    def from_sums(
        cls,
        n: npt.ArrayLike,
        sx: npt.ArrayLike,
        sxx: npt.ArrayLike,
        sy: npt.ArrayLike | None = None,
        syy: npt.ArrayLike | None = None,
        sxy: npt.ArrayLike | None = None,
    ) -> Moments:
        """Moments (sample variances, ddof=1) from sums of x, x^2 (and y, y^2, xy); for counts, where the sums
        are exact in floating point."""
        nn = np.asarray(n, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            mx = np.asarray(sx, dtype=np.float64) / nn
            vx = (np.asarray(sxx, dtype=np.float64) - nn * mx * mx) / (nn - 1)
            if sy is None or syy is None or sxy is None:
                return cls(nn, mx, np.maximum(vx, 0.0))
            my = np.asarray(sy, dtype=np.float64) / nn
            vy = (np.asarray(syy, dtype=np.float64) - nn * my * my) / (nn - 1)
            cxy = (np.asarray(sxy, dtype=np.float64) - nn * mx * my) / (nn - 1)
        return cls(nn, mx, np.maximum(vx, 0.0), my, np.maximum(vy, 0.0), cxy)


def point_and_se(m: Moments, kind: Kind) -> tuple[FloatArray, FloatArray]:
    """(metric value, its standard error) per entry: the mean of x, or the ratio mean(x) / mean(y) with the
    delta-method standard error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "mean":
            return m.mean_x, np.sqrt(m.var_x / m.n)
        if m.mean_y is None or m.var_y is None or m.cov_xy is None:
            raise fail("kind", "a ratio metric needs the denominator's moments")
        r = m.mean_x / m.mean_y
        var = (m.var_x - 2 * r * m.cov_xy + r * r * m.var_y) / (m.n * m.mean_y**2)
    return r, np.sqrt(np.maximum(var, 0.0))


@dataclass(frozen=True)
class LiftArrays:
    """Treatment minus control per entry: absolute and relative lift with their confidence intervals, and the
    two-sided p-value of the absolute difference (relative lifts are NaN where the control value is 0)."""

    absolute: FloatArray
    absolute_low: FloatArray
    absolute_high: FloatArray
    relative: FloatArray
    relative_low: FloatArray
    relative_high: FloatArray
    p_value: FloatArray


def lift(c: FloatArray, se_c: FloatArray, t: FloatArray, se_t: FloatArray, alpha: float = 0.05) -> LiftArrays:
    """The lift of independent variants with values ``t``, ``c`` and standard errors ``se_t``, ``se_c``."""
    from scipy.special import ndtr, ndtri

    z = float(ndtri(1 - alpha / 2))
    diff = t - c
    se = np.sqrt(se_c**2 + se_t**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se > 0, np.abs(diff) / se, np.where(diff == 0, 0.0, np.inf))
        rel = np.where(c != 0, t / c - 1, np.nan)
        se_rel = np.where(c != 0, np.sqrt(se_t**2 / c**2 + t**2 * se_c**2 / c**4), np.nan)
    return LiftArrays(diff, diff - z * se, diff + z * se, rel, rel - z * se_rel, rel + z * se_rel, 2 * ndtr(-stat))
