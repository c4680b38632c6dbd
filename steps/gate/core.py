"""Quality gate core: should the freshly trained model replace the champion?

Pure: takes the candidate's validation metric, the champion's (if any) and the gate's thresholds, returns a
decision with reasons a person can read. In AWS the same comparison is a Choice state on the training metrics;
locally the runner calls :func:`decide` and records the outcome in the model registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateConfig:
    metric: str
    higher_is_better: bool
    min_value: float | None = None
    min_improvement: float = 0.0
    compare_to_champion: bool = True


@dataclass(frozen=True)
class Decision:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def decide(candidate: float, champion: float | None, config: GateConfig, *, is_champion: bool = False) -> Decision:
    """``champion`` is None when there is none or when the candidate is that model (``is_champion``)."""
    reasons: list[str] = []
    passed = True
    sign = 1.0 if config.higher_is_better else -1.0
    word = "at least" if config.higher_is_better else "at most"
    if config.min_value is not None:
        if sign * (candidate - config.min_value) < 0:
            passed = False
            reasons.append(f"{config.metric}={candidate:.4f} is not {word} the threshold {config.min_value:.4f}")
        else:
            reasons.append(f"{config.metric}={candidate:.4f} meets the threshold {config.min_value:.4f}")
    if config.compare_to_champion and champion is not None:
        needed = champion + sign * config.min_improvement
        if sign * (candidate - needed) < 0:
            passed = False
            reasons.append(
                f"{config.metric}={candidate:.4f} does not beat the champion's {champion:.4f}"
                + (f" by {config.min_improvement:g}" if config.min_improvement else "")
            )
        else:
            reasons.append(f"{config.metric}={candidate:.4f} beats or equals the champion's {champion:.4f}")
    elif config.compare_to_champion:
        reasons.append("the candidate is already the champion" if is_champion else "no champion yet")
    return Decision(passed, reasons)
