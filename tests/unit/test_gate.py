"""The quality gate's pure decision: thresholds and champion comparison, for both metric directions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from steps.gate.core import Decision, GateConfig, decide

AUC = GateConfig(metric="roc_auc", higher_is_better=True)
RMSE = GateConfig(metric="rmse", higher_is_better=False)


def cfg(base: GateConfig, **kw: Any) -> GateConfig:
    return replace(base, **kw)


# ---------------------------------------------------------------- absolute threshold
@pytest.mark.parametrize(
    ("config", "candidate", "passed"),
    [
        (cfg(AUC, min_value=0.7, compare_to_champion=False), 0.75, True),
        (cfg(AUC, min_value=0.7, compare_to_champion=False), 0.70, True),  # the threshold itself passes
        (cfg(AUC, min_value=0.7, compare_to_champion=False), 0.69, False),
        # lower is better: min_value is a ceiling
        (cfg(RMSE, min_value=5.0, compare_to_champion=False), 4.0, True),
        (cfg(RMSE, min_value=5.0, compare_to_champion=False), 5.0, True),
        (cfg(RMSE, min_value=5.0, compare_to_champion=False), 6.0, False),
    ],
)
def test_absolute_threshold(config: GateConfig, candidate: float, passed: bool) -> None:
    decision = decide(candidate, None, config)
    assert decision.passed is passed
    assert len(decision.reasons) == 1


def test_threshold_reasons_are_readable() -> None:
    failed = decide(0.6512, None, cfg(AUC, min_value=0.7, compare_to_champion=False))
    assert failed.reasons == ["roc_auc=0.6512 is not at least the threshold 0.7000"]
    met = decide(0.75, None, cfg(AUC, min_value=0.7, compare_to_champion=False))
    assert met.reasons == ["roc_auc=0.7500 meets the threshold 0.7000"]
    too_high = decide(6.0, None, cfg(RMSE, min_value=5.0, compare_to_champion=False))
    assert too_high.reasons == ["rmse=6.0000 is not at most the threshold 5.0000"]


# ---------------------------------------------------------------- champion comparison
@pytest.mark.parametrize(
    ("config", "candidate", "champion", "passed"),
    [
        # higher is better
        (AUC, 0.80, 0.78, True),
        (AUC, 0.78, 0.78, True),  # equal is enough without a required improvement
        (AUC, 0.77, 0.78, False),
        (cfg(AUC, min_improvement=0.01), 0.80, 0.78, True),
        (cfg(AUC, min_improvement=0.05), 0.80, 0.78, False),
        # lower is better
        (RMSE, 3.0, 3.5, True),
        (RMSE, 3.5, 3.5, True),
        (RMSE, 4.0, 3.5, False),
        (cfg(RMSE, min_improvement=0.25), 3.0, 3.5, True),
        (cfg(RMSE, min_improvement=1.0), 3.0, 3.5, False),
    ],
)
def test_champion_comparison(config: GateConfig, candidate: float, champion: float, passed: bool) -> None:
    assert decide(candidate, champion, config).passed is passed


def test_champion_reasons_are_readable() -> None:
    worse = decide(0.77, 0.78, cfg(AUC, min_improvement=0.01))
    assert worse.reasons == ["roc_auc=0.7700 does not beat the champion's 0.7800 by 0.01"]
    worse_plain = decide(0.77, 0.78, AUC)
    assert worse_plain.reasons == ["roc_auc=0.7700 does not beat the champion's 0.7800"]
    better = decide(0.80, 0.78, AUC)
    assert better.reasons == ["roc_auc=0.8000 beats or equals the champion's 0.7800"]


def test_no_champion_passes_with_a_reason() -> None:
    decision = decide(0.51, None, AUC)
    assert decision == Decision(True, ["no champion yet"])


def test_a_candidate_that_is_the_champion_says_so() -> None:
    # Given a re-run whose training output is the champion itself (same train key): nothing to compare against
    decision = decide(0.6, None, cfg(AUC, min_value=0.7), is_champion=True)
    assert decision == Decision(
        False, ["roc_auc=0.6000 is not at least the threshold 0.7000", "the candidate is already the champion"]
    )


def test_champion_ignored_when_not_compared() -> None:
    decision = decide(0.5, 0.9, cfg(AUC, compare_to_champion=False))
    assert decision == Decision(True, [])


def test_both_rules_must_pass_and_both_are_explained() -> None:
    # Given a candidate above the threshold but below the champion
    decision = decide(0.75, 0.80, cfg(AUC, min_value=0.7))
    # Then it fails, with one reason per rule, threshold first
    assert decision.passed is False
    assert len(decision.reasons) == 2
    assert "meets the threshold" in decision.reasons[0]
    assert "does not beat the champion's 0.8000" in decision.reasons[1]
    # and a candidate below the threshold fails even with no champion
    low = decide(0.6, None, cfg(AUC, min_value=0.7))
    assert low.passed is False
    assert low.reasons[-1] == "no champion yet"
