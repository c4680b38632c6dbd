"""Reading out an online test (the readout entry's pure core) over exposure/outcome tables with known truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from stepml.errors import StepInputError
from steps.readout.entry import datapoints, readout


def config(kind: str = "ab", **over: Any) -> dict[str, Any]:
    weights = {"control": 0.5, "treatment": 0.5} if kind == "ab" else {"control": 1.0, "treatment": 0.0}
    cfg: dict[str, Any] = {
        "settings": {
            "experiment": "t",
            "kind": kind,
            "unit": "user",
            "salt": "s",
            "layer": "l",
            "offset": 0.0,
            "weights": weights,
        },
        "unit": "user",
        "item": "item",
        "top_k": 5,
        "variant_column": "variant",
        "metrics": [
            {
                "name": "ctr",
                "kind": "ratio",
                "numerator": "clicks",
                "denominator": "views",
                "higher_is_better": True,
                "max_drop": None,
            }
        ],
        "guardrails": [
            {"name": "views_per_user", "kind": "mean", "column": "views", "higher_is_better": True, "max_drop": 0.05}
        ],
        "alpha": 0.05,
        "srm_alpha": 0.001,
        "max_multiple_exposure": 0.01,
    }
    cfg.update(over)
    return cfg


def outcomes(
    n: int = 20_000, lift: float = 0.0, views_drop: float = 0.0, share: float = 0.5, seed: int = 1
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(n) < share, "treatment", "control")
    treated = variant == "treatment"
    views = rng.poisson(np.where(treated, 20 * (1 - views_drop), 20)) + 1
    clicks = rng.binomial(views, np.where(treated, 0.05 * (1 + lift), 0.05))
    return pd.DataFrame({"user": np.arange(n), "variant": variant, "views": views, "clicks": clicks})


def row(report: dict[str, Any], metric: str, variant: str = "treatment") -> dict[str, Any]:
    [found] = [r for r in report["table"] if r["metric"] == metric and r["variant"] == variant]
    return dict(found)


def test_a_planted_lift_is_inside_the_interval() -> None:
    report = readout(config(), outcomes(lift=0.2), {}, step="readout")
    ctr = row(report, "ctr")
    assert ctr["relative_low"] < 0.2 < ctr["relative_high"] and ctr["significant"]
    assert not report["srm"]["alert"] and report["guardrail_breaches"] == 0
    assert row(report, "ctr", "control")["lift"] is None  # the control has no lift over itself


def test_a_broken_split_raises_the_srm_alert() -> None:
    report = readout(config(), outcomes(share=0.47), {}, step="readout")
    assert report["srm"]["alert"] and report["srm"]["p_value"] < 1e-6
    points = {p.metric: p.value for p in datapoints(report, pipeline="p", step="readout")}
    assert points["SampleRatioMismatch"] == 1.0 and points["SRMPValue"] < 1e-6


def test_a_guardrail_drop_breaches() -> None:
    report = readout(config(), outcomes(views_drop=0.2), {}, step="readout")
    assert row(report, "views_per_user")["breached"] and report["guardrail_breaches"] == 1


def test_multiply_exposed_units_are_counted_and_left_out() -> None:
    frame = outcomes(n=10_000)
    twice = frame.iloc[:300].assign(variant=lambda f: np.where(f["variant"] == "control", "treatment", "control"))
    report = readout(config(), pd.concat([frame, twice]), {}, step="readout")
    assert report["multiple_exposure"]["multiple"] == 300 and report["multiple_exposure"]["alert"]
    assert row(report, "ctr")["units"] + row(report, "ctr", "control")["units"] == 10_000 - 300


def test_an_unknown_variant_and_a_missing_column_are_named() -> None:
    frame = outcomes(n=100).assign(variant="bogus")
    with pytest.raises(StepInputError, match=r"variant\(s\) \['bogus'\]"):
        readout(config(), frame, {}, step="readout")
    with pytest.raises(StepInputError, match=r"lacks column\(s\) \['clicks'\]"):
        readout(config(), outcomes(n=100).drop(columns=["clicks"]), {}, step="readout")


def test_interleaving_preference_and_sign_test() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    a = rng.poisson(1.2, n)
    b = rng.poisson(1.0, n)
    frame = pd.concat([
        pd.DataFrame({"user": np.arange(n), "variant": "control", "clicks": a, "views": 5}),
        pd.DataFrame({"user": np.arange(n), "variant": "treatment", "clicks": b, "views": 5}),
    ])  # fmt: skip
    cfg = config("interleave", guardrails=[])
    report = readout(cfg, frame, {}, step="readout")
    pref = report["preference"]
    assert pref["wins_a"] + pref["wins_b"] + pref["ties"] == n
    assert pref["preference_a"] > 0.5 and pref["p_value"] < 0.001
    assert report["multiple_exposure"]["multiple"] == 0  # both teams of one unit are one list, not two exposures


def test_shadow_agreement_of_the_two_lists() -> None:
    base = pd.DataFrame([(u, i) for u in range(100) for i in range(5)], columns=["user", "item"])
    control = base.assign(rank=base["item"] + 1, score=1.0 - base["item"] / 10)
    same = control.copy()
    report = readout(
        config("shadow", metrics=[], guardrails=[]), pd.DataFrame(), {"control": control, "treatment": same}, step="r"
    )
    assert report["agreement"]["overlap_at_k"] == pytest.approx(1.0)
    assert report["agreement"]["rank_correlation"] == pytest.approx(1.0)
    reversed_ = control.assign(rank=6 - control["rank"], score=control["score"] + 0.5)
    report = readout(
        config("shadow", metrics=[], guardrails=[]),
        pd.DataFrame(),
        {"control": control, "treatment": reversed_},
        step="r",
    )
    assert report["agreement"]["rank_correlation"] == pytest.approx(-1.0)
    assert report["agreement"]["score_psi"] > 1
