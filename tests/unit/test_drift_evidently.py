"""stepml's per-column statistics agree with evidently's implementation of the same test on the same data."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from monitoring.drift import chi2_homogeneity, ks_from_counts, ks_pvalue, psi_from_shares, wasserstein_numeric
from monitoring.profile import OTHER, CategoricalAccumulator, NumericAccumulator, quantile_edges


@pytest.fixture(scope="module")
def ev() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy.core / pandas deprecations inside evidently's imports
        from evidently.legacy.calculations.stattests import (
            chisquare_stattest,
            ks_stattest,
            psi,
            utils,
        )
        from evidently.legacy.calculations.stattests import wasserstein_distance_norm as wd
        from evidently.legacy.core import ColumnType
    return {
        "ks": ks_stattest._ks_stat_test,
        "chi": chisquare_stattest._chi_stat_test,
        "psi": psi._psi,
        "wd": wd._wasserstein_distance_norm,
        "binned": utils.get_binned_data,
        "num": ColumnType.Numerical,
        "cat": ColumnType.Categorical,
    }


def _numeric(ref: np.ndarray, cur: np.ndarray) -> tuple[Any, Any]:
    edges = quantile_edges(ref, 1000)
    a, b = NumericAccumulator(edges), NumericAccumulator(edges)
    a.add(ref)
    b.add(cur)
    return a.to_profile(), b.to_profile()


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.1])
def test_ks_and_wasserstein_agree(ev: Any, shift: float) -> None:
    rng = np.random.default_rng(int(shift * 100))
    ref, cur = rng.normal(size=20_000), rng.normal(shift, 1.0, 3_000)
    r, c = _numeric(ref, cur)
    d = ks_from_counts(r["bin_counts"], c["bin_counts"], r["edge_counts"], c["edge_counts"])
    ours_p = ks_pvalue(d, c["count"], r["count"])
    ev_p, _ = ev["ks"](pd.Series(ref), pd.Series(cur), ev["num"], 0.05)
    # evidently calls scipy's ks_2samp on the raw rows; stepml reads 1000 reference-quantile bins, which pins
    # D to within 1e-3 of the raw statistic - and the p-value to within 0.03
    assert d == pytest.approx(ks_2samp(ref, cur).statistic, abs=1e-3)
    assert ours_p == pytest.approx(ev_p, abs=0.03)
    ev_w, _ = ev["wd"](pd.Series(ref), pd.Series(cur), ev["num"], 0.1)
    assert wasserstein_numeric(r, c) == pytest.approx(ev_w, abs=0.005)


def test_psi_agrees_on_evidently_bins(ev: Any) -> None:
    rng = np.random.default_rng(1)
    ref, cur = pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(0.3, 1.2, 3000))
    ev_psi, _ = ev["psi"](ref, cur, ev["num"], 0.1)
    ref_shares, cur_shares = ev["binned"](ref, cur, ev["num"], 30, feel_zeroes=False)
    assert psi_from_shares(ref_shares, cur_shares) == pytest.approx(ev_psi, rel=1e-9)


def test_categorical_psi_and_chi_square_agree(ev: Any) -> None:
    rng = np.random.default_rng(2)
    ref = pd.Series(rng.choice(list("abcd"), 200_000, p=[0.4, 0.3, 0.2, 0.1]))
    cur = pd.Series(rng.choice(list("abcd"), 2_000, p=[0.38, 0.31, 0.2, 0.11]))
    a, b = CategoricalAccumulator(), CategoricalAccumulator()
    a.add_counts(ref.value_counts().items())
    b.add_counts(cur.value_counts().items())
    rp = a.to_profile(None, 50)
    cp = b.to_profile([k for k in rp["frequencies"] if k != OTHER])
    keys = [k for k in rp["frequencies"] if k != OTHER]
    r = np.array([rp["frequencies"][k] for k in keys])
    c = np.array([cp["frequencies"][k] for k in keys])
    ev_psi, _ = ev["psi"](ref, cur, ev["cat"], 0.1)
    assert psi_from_shares(r / r.sum(), c / c.sum()) == pytest.approx(ev_psi, rel=1e-9)
    # evidently's chi-square is a goodness-of-fit test against the reference shares; with a reference 100x the
    # batch, the test of homogeneity stepml uses gives the same p-value to within 0.02
    ev_p, _ = ev["chi"](ref, cur, ev["cat"], 0.05)
    _, _, ours = chi2_homogeneity(r, c)
    assert ours == pytest.approx(ev_p, abs=0.02)
