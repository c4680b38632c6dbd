"""The statistics of an experiment readout: sample-ratio mismatch, per-variant metrics with confidence intervals,
lifts, the multiple-exposure share and the sign test of an interleaving preference.

Intervals are large-sample (normal) intervals, as online experiments use them: a mean's standard error is
``sqrt(var / n)``; a ratio metric ``R = mean(x) / mean(y)`` (clicks / impressions per unit) gets the delta-method
variance ``(var_x - 2 R cov_xy + R^2 var_y) / (n mean_y^2)`` (Deng, Knoblich, Lu 2018, "Applying the Delta Method
in Metric Analytics", section 3), which accounts for the outcomes of one unit being correlated; the relative lift
``t / c - 1`` of independent variants gets ``se_t^2 / c^2 + t^2 se_c^2 / c^4``, the delta method again. The
p-value is the two-sided z-test of the absolute difference.

Every calculation runs on arrays of per-variant moments (``stepml.experiments.moments``), the code the simulator
(``stepml.experiments.simulate``) runs thousands of experiments through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from stepml.experiments.moments import Kind, Moments, fail, lift, point_and_se, srm_pvalues

SRM_ALPHA = 0.001  # the usual SRM threshold: a sample-ratio mismatch is a bug, worth a strict alarm


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise fail("alpha", f"expected a number strictly between 0 and 1, got {alpha!r}")


# --- sample-ratio mismatch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SrmResult:
    """Pearson's chi-square goodness-of-fit test of the observed units per variant against the configured split."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    dof: int
    p_value: float

    def alert(self, alpha: float = SRM_ALPHA) -> bool:
        """True when the split is off: ``p_value < alpha``."""
        _check_alpha(alpha)
        return self.p_value < alpha


def srm_test(observed: Mapping[str, int], weights: Mapping[str, float]) -> SrmResult:
    """Test the units seen per variant (``observed``) against the configured ``weights`` (any positive scale).

    A variant with a weight and no units counts 0; a variant with units and no weight is an error.
    """
    if len(weights) < 2:
        raise fail("weights", f"expected at least two variants, got {sorted(weights)}")
    for name, weight in weights.items():
        if not (isinstance(weight, float | int) and math.isfinite(weight) and weight > 0):
            raise fail("weights", f"variant {name!r}: expected a finite weight > 0, got {weight!r}")
    unknown = sorted(set(observed) - set(weights))
    if unknown:
        raise fail("observed", f"variant(s) {unknown} have units but no weight (variants: {sorted(weights)})")
    for name, n in observed.items():
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise fail("observed", f"variant {name!r}: expected a count of units >= 0, got {n!r}")
    names = list(weights)
    counts = np.array([int(observed.get(v, 0)) for v in names], dtype=np.float64)
    if counts.sum() == 0:
        raise fail("observed", "no units in any variant")
    w = np.array([float(weights[v]) for v in names])
    chi2, p = srm_pvalues(counts, w)
    expected = counts.sum() * w / w.sum()
    return SrmResult(
        observed={v: int(c) for v, c in zip(names, counts, strict=True)},
        expected={v: float(e) for v, e in zip(names, expected, strict=True)},
        chi2=float(chi2),
        dof=len(names) - 1,
        p_value=float(p),
    )


# --- the readout on per-unit frames ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """One variant's metric: its value (a mean, or a ratio of means) with a ``1 - alpha`` confidence interval."""

    variant: str
    kind: Kind
    n: int
    value: float
    std_error: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Comparison:
    """Treatment against control: absolute and relative lift with ``1 - alpha`` intervals, and the p-value."""

    control: str
    treatment: str
    kind: Kind
    control_value: float
    treatment_value: float
    absolute_lift: float
    absolute_ci: tuple[float, float]
    relative_lift: float | None  # None when the control value is 0
    relative_ci: tuple[float, float] | None
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def _column(frame: pd.DataFrame, name: str, field: str) -> pd.Series:
    if name not in frame.columns:
        raise fail(field, f"column {name!r} is not in the frame (columns: {', '.join(map(str, frame.columns))})")
    col = frame[name]
    if field == "variant":
        if col.isna().any():
            raise fail(field, f"column {name!r} has missing variants")
        return col.astype(str)
    values = pd.to_numeric(col, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(values.to_numpy())
    if bad.any():
        raise fail(field, f"column {name!r} has {int(bad.sum())} missing, non-numeric or infinite value(s)")
    return values


def variant_moments(
    frame: pd.DataFrame,
    *,
    kind: Kind,
    value: str | None = None,
    numerator: str | None = None,
    denominator: str | None = None,
    variant: str = "variant",
) -> tuple[list[str], Moments]:
    """The variants (sorted) and their moments, from one row per unit: ``value`` for a mean metric,
    ``numerator`` and ``denominator`` for a ratio metric."""
    v = _column(frame, variant, "variant")
    if kind == "mean":
        if value is None:
            raise fail("value", "a mean metric needs the column of per-unit values")
        x, y = _column(frame, value, "value"), None
    elif kind == "ratio":
        if numerator is None or denominator is None:
            raise fail("numerator", "a ratio metric needs the numerator and denominator columns")
        x, y = _column(frame, numerator, "numerator"), _column(frame, denominator, "denominator")
    else:
        raise fail("kind", f"expected 'mean' or 'ratio', got {kind!r}")
    data = pd.DataFrame({"v": v.to_numpy(), "x": x.to_numpy()})
    if y is not None:
        data["y"] = y.to_numpy()
    groups = data.groupby("v", sort=True)
    n = groups.size()
    small = n[n < 2]
    if len(small):
        raise fail("variant", f"every variant needs at least 2 units, got {small.to_dict()}")
    names = [str(i) for i in n.index]
    means = groups.mean()
    var = groups.var(ddof=1)
    if y is None:
        return names, Moments(np.asarray(n, dtype=np.float64), means["x"].to_numpy(), var["x"].to_numpy())
    centred = (data["x"] - groups["x"].transform("mean")) * (data["y"] - groups["y"].transform("mean"))
    cov = centred.groupby(data["v"], sort=True).sum() / (n - 1)
    if (means["y"] <= 0).any():
        zero = sorted(str(k) for k in means.index[means["y"] <= 0])
        raise fail("denominator", f"the denominator's mean must be > 0; it is not in variant(s) {zero}")
    return names, Moments(
        np.asarray(n, dtype=np.float64),
        means["x"].to_numpy(),
        var["x"].to_numpy(),
        means["y"].to_numpy(),
        var["y"].to_numpy(),
        cov.to_numpy(np.float64),
    )


def _estimates(names: list[str], m: Moments, kind: Kind, alpha: float) -> dict[str, Estimate]:
    from scipy.special import ndtri

    _check_alpha(alpha)
    z = float(ndtri(1 - alpha / 2))
    value, se = point_and_se(m, kind)
    low, high = value - z * se, value + z * se
    return {
        name: Estimate(name, kind, int(m.n[i]), float(value[i]), float(se[i]), float(low[i]), float(high[i]))
        for i, name in enumerate(names)
    }


def mean_metric(
    frame: pd.DataFrame, value: str, *, variant: str = "variant", alpha: float = 0.05
) -> dict[str, Estimate]:
    """Per-variant mean of the per-unit ``value`` (one row per unit) with its ``1 - alpha`` interval."""
    names, m = variant_moments(frame, kind="mean", value=value, variant=variant)
    return _estimates(names, m, "mean", alpha)


def ratio_metric(
    frame: pd.DataFrame, numerator: str, denominator: str, *, variant: str = "variant", alpha: float = 0.05
) -> dict[str, Estimate]:
    """Per-variant ratio ``sum(numerator) / sum(denominator)`` over units with its delta-method interval."""
    names, m = variant_moments(frame, kind="ratio", numerator=numerator, denominator=denominator, variant=variant)
    return _estimates(names, m, "ratio", alpha)


def _comparison(names: list[str], m: Moments, kind: Kind, control: str, alpha: float) -> dict[str, Comparison]:
    _check_alpha(alpha)
    if control not in names:
        raise fail("control", f"variant {control!r} has no units (variants: {names})")
    value, se = point_and_se(m, kind)
    i = names.index(control)
    lifts = lift(np.full_like(value, value[i]), np.full_like(se, se[i]), value, se, alpha)
    out = {}
    for j, name in enumerate(names):
        if j == i:
            continue
        rel = float(lifts.relative[j])
        out[name] = Comparison(
            control=control,
            treatment=name,
            kind=kind,
            control_value=float(value[i]),
            treatment_value=float(value[j]),
            absolute_lift=float(lifts.absolute[j]),
            absolute_ci=(float(lifts.absolute_low[j]), float(lifts.absolute_high[j])),
            relative_lift=rel if math.isfinite(rel) else None,
            relative_ci=(float(lifts.relative_low[j]), float(lifts.relative_high[j])) if math.isfinite(rel) else None,
            p_value=float(lifts.p_value[j]),
            alpha=alpha,
        )
    return out


def compare_variants(
    frame: pd.DataFrame,
    *,
    control: str,
    kind: Kind = "mean",
    value: str | None = None,
    numerator: str | None = None,
    denominator: str | None = None,
    variant: str = "variant",
    alpha: float = 0.05,
) -> dict[str, Comparison]:
    """Every other variant against ``control``, from one row per unit (see :func:`variant_moments`)."""
    names, m = variant_moments(
        frame, kind=kind, value=value, numerator=numerator, denominator=denominator, variant=variant
    )
    return _comparison(names, m, kind, control, alpha)


Sample = npt.ArrayLike | tuple[npt.ArrayLike, npt.ArrayLike]


def compare(control: Sample, treatment: Sample, *, kind: Kind = "mean", alpha: float = 0.05) -> Comparison:
    """``treatment`` against ``control``, each the per-unit values (``kind='mean'``) or a pair of per-unit
    (numerator, denominator) arrays (``kind='ratio'``)."""
    parts = []
    for name, sample in (("control", control), ("treatment", treatment)):
        if kind == "ratio":
            if not (isinstance(sample, tuple) and len(sample) == 2):
                raise fail(name, "a ratio metric needs a (numerator, denominator) pair of per-unit arrays")
            num, den = (np.asarray(a, dtype=np.float64).ravel() for a in sample)
            if num.size != den.size:
                raise fail(name, f"numerator and denominator differ in length ({num.size} vs {den.size})")
            parts.append(pd.DataFrame({"variant": name, "x": num, "y": den}))
        else:
            parts.append(pd.DataFrame({"variant": name, "x": np.asarray(sample, dtype=np.float64).ravel()}))
    frame = pd.concat(parts, ignore_index=True)
    if kind == "ratio":
        names, m = variant_moments(frame, kind=kind, numerator="x", denominator="y")
    else:
        names, m = variant_moments(frame, kind=kind, value="x")
    return _comparison(names, m, kind, "control", alpha)["treatment"]


# --- exposure quality and interleaving preference -------------------------------------------------------------


@dataclass(frozen=True)
class MultipleExposure:
    """How many units were exposed to more than one variant (they cannot be attributed to one)."""

    units: int
    multiple: int
    share: float


def multiple_exposure_share(frame: pd.DataFrame, *, unit: str = "unit", variant: str = "variant") -> MultipleExposure:
    """The share of units with exposures in two or more variants, from exposure rows (any number per unit)."""
    for name, field in ((unit, "unit"), (variant, "variant")):
        if name not in frame.columns:
            raise fail(field, f"column {name!r} is not in the frame (columns: {', '.join(map(str, frame.columns))})")
    if frame[unit].isna().any() or frame[variant].isna().any():
        raise fail("unit", "exposure rows with a missing unit or variant")
    per_unit = frame.groupby(unit, sort=False)[variant].nunique()
    units, multiple = len(per_unit), int((per_unit > 1).sum())
    return MultipleExposure(units, multiple, multiple / units if units else 0.0)


@dataclass(frozen=True)
class SignTest:
    """The exact two-sided binomial (sign) test of A's wins against B's, ties excluded."""

    wins_a: int
    wins_b: int
    ties: int
    preference_a: float | None  # wins_a / (wins_a + wins_b); None without decisive units
    ci: tuple[float, float] | None  # Clopper-Pearson interval of preference_a
    p_value: float


def sign_test(wins_a: int, wins_b: int, *, ties: int = 0, alpha: float = 0.05) -> SignTest:
    """Is A preferred over B? ``p = P(|Bin(n, 1/2) - n/2| >= |wins_a - n/2|)``, ``n = wins_a + wins_b``."""
    from scipy.special import bdtr, betaincinv

    _check_alpha(alpha)
    for name, n in (("wins_a", wins_a), ("wins_b", wins_b), ("ties", ties)):
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise fail(name, f"expected a count >= 0, got {n!r}")
    n = int(wins_a) + int(wins_b)
    if n == 0:
        return SignTest(int(wins_a), int(wins_b), int(ties), None, None, 1.0)
    p = min(1.0, 2.0 * float(bdtr(min(wins_a, wins_b), n, 0.5)))
    low = 0.0 if wins_a == 0 else float(betaincinv(wins_a, n - wins_a + 1, alpha / 2))
    high = 1.0 if wins_a == n else float(betaincinv(wins_a + 1, n - wins_a, 1 - alpha / 2))
    return SignTest(int(wins_a), int(wins_b), int(ties), wins_a / n, (low, high), p)


def count_winners(winners: Sequence[str] | pd.Series) -> SignTest:
    """The sign test of per-unit winners ``'A'``, ``'B'`` or ``'tie'`` (as ``interleave.credit_frame`` gives)."""
    counts = pd.Series(winners, dtype=object).value_counts()
    unknown = sorted(set(map(str, counts.index)) - {"A", "B", "tie"})
    if unknown:
        raise fail("winners", f"expected 'A', 'B' or 'tie', got {unknown}")
    return sign_test(int(counts.get("A", 0)), int(counts.get("B", 0)), ties=int(counts.get("tie", 0)))
