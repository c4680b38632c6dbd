"""The ``experiments:`` block of pipeline.yaml: online tests (A/B, interleaving, shadow) of batch scores.

An experiment says who is in it (``unit``: the randomization column, ``coverage``, an ``audience`` condition),
how units are split (``salt``, ``variants`` with weights, a ``layer`` shared by mutually exclusive experiments),
what each variant serves (a registered model by ``NAME@alias``, or an upstream step: a model producer or a user
step's ranked table), how lists are shown (``top_k``, a ``fallback`` variant when a list is too short), when it
runs (``window``), and how it is read out (``metrics``, ``guardrails``, the SRM and multiple-exposure thresholds).

A serve step (``type: serve``) produces the serving output of one experiment, a readout step (``type: readout``)
its read-out; the statistics and the assignment are in :mod:`stepml.experiments`.
"""

from __future__ import annotations

import itertools
import math
import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EXPERIMENT_NAME = r"^[a-z][a-z0-9-]{0,47}$"
COLUMN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
VARIANT = r"^[a-z][a-z0-9_]{0,31}$"
STEP_REF = r"^[a-z][a-z0-9_]{0,62}$"
MODEL_REF = r"^[a-z][a-z0-9-]{0,47}(@(champion|challenger|[1-9][0-9]{0,8}))?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantSpec(_Model):
    """What one variant serves: ``model`` (a registered model, ``NAME@champion|@challenger|@N``) or ``step`` (an
    upstream step of the serve step: a gate/train step's model, or a step's table of scored items)."""

    model: str | None = Field(None, pattern=MODEL_REF)
    step: str | None = Field(None, pattern=STEP_REF)
    weight: float = Field(1.0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_source(self) -> VariantSpec:
        if (self.model is None) == (self.step is None):
            raise ValueError("a variant serves either 'model: NAME@alias' or 'step: STEP', exactly one of them")
        if not math.isfinite(self.weight):
            raise ValueError("weight must be a finite number")
        return self

    def model_ref(self) -> tuple[str, str] | None:
        if self.model is None:
            return None
        name, _, alias = self.model.partition("@")
        return name, alias or "champion"


class AudienceSpec(_Model):
    """Who may enter: units whose ``column`` holds one of ``values`` (e.g. new users only); others are served the
    control and are not in the experiment."""

    column: str = Field(pattern=COLUMN)
    values: list[str | int | float | bool] = Field(min_length=1, max_length=1000)


class FallbackSpec(_Model):
    """A unit whose variant has fewer than ``min_items`` items is served ``variant``'s list (and marked)."""

    variant: str = Field(pattern=VARIANT)
    min_items: int = Field(1, ge=1, le=10_000)


class WindowSpec(_Model):
    start: date
    end: date  # exclusive

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after its start {self.start}")
        return self


class MetricSpec(_Model):
    """A per-unit metric of the readout's exposure/outcome table: ``mean`` of ``column`` per unit, or ``ratio``
    sum(numerator)/sum(denominator) over units (the delta method gives its interval)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    kind: Literal["mean", "ratio"] = "mean"
    column: str | None = Field(None, pattern=COLUMN)
    numerator: str | None = Field(None, pattern=COLUMN)
    denominator: str | None = Field(None, pattern=COLUMN)
    higher_is_better: bool = True
    max_drop: float | None = Field(None, gt=0, le=1)  # guardrails only: the relative drop that breaches

    @model_validator(mode="after")
    def _columns(self) -> MetricSpec:
        if self.kind == "mean" and (self.column is None or self.numerator or self.denominator):
            raise ValueError("a 'mean' metric names 'column' (and no numerator/denominator)")
        if self.kind == "ratio" and (self.column is not None or not self.numerator or not self.denominator):
            raise ValueError("a 'ratio' metric names 'numerator' and 'denominator' (and no column)")
        return self

    def columns(self) -> list[str]:
        return [c for c in (self.column, self.numerator, self.denominator) if c]


class PublishSpec(_Model):
    """Where the serving table goes besides the Athena-partitioned copy: ``dynamodb: true`` - in AWS, a DynamoDB
    table ``stepml-<stage>-<pipeline>-<experiment>`` keyed by the unit, each item the unit's served list (items
    expire after ``ttl_days``; locally there is no DynamoDB and this is skipped)."""

    dynamodb: bool = False
    ttl_days: int = Field(30, ge=1, le=3650)


class ExperimentSpec(_Model):
    kind: Literal["ab", "interleave", "shadow"]
    unit: str = Field(pattern=COLUMN)  # the randomization unit: a column of the served table
    item: str | None = Field(None, pattern=COLUMN)  # the ranked item (lists: top_k, fallback, interleaving)
    score: str = Field("score", pattern=COLUMN)  # the score column of a step variant's table
    salt: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    layer: str | None = Field(None, pattern=r"^[a-z][a-z0-9-]{0,47}$")  # shared by mutually exclusive experiments
    offset: float | None = Field(None, ge=0, lt=1)  # where in its layer it starts (default: after the ones before)
    coverage: float = Field(1.0, gt=0, le=1)
    variants: dict[str, VariantSpec] = Field(min_length=2, max_length=26)  # the first is the control
    audience: AudienceSpec | None = None
    fallback: FallbackSpec | None = None
    top_k: int = Field(10, ge=1, le=1000)
    interleaving: Literal["team_draft", "balanced"] = "team_draft"
    window: WindowSpec | None = None
    publish: PublishSpec = PublishSpec()
    metrics: list[MetricSpec] = Field([], max_length=50)
    guardrails: list[MetricSpec] = Field([], max_length=50)
    alpha: float = Field(0.05, gt=0, lt=0.5)
    srm_alpha: float = Field(0.001, gt=0, lt=0.5)
    max_multiple_exposure: float = Field(0.01, ge=0, le=1)
    description: str = ""

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, variants: dict[str, VariantSpec]) -> dict[str, VariantSpec]:
        bad = [n for n in variants if not re.match(VARIANT, n)]
        if bad:
            raise ValueError(f"variant names must match {VARIANT}: {bad}")
        return variants

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        names = list(self.variants)
        if self.kind in ("interleave", "shadow") and len(names) != 2:
            raise ValueError(f"a {self.kind} experiment has exactly 2 variants (the first is the control)")
        if self.kind == "ab" and not sum(v.weight for v in self.variants.values()) > 0:
            raise ValueError("the variants' weights must add up to more than 0")
        if self.kind == "interleave" and self.item is None:
            raise ValueError("an interleave experiment names its 'item' column (lists are merged item by item)")
        if self.fallback is not None:
            if self.fallback.variant not in self.variants:
                raise ValueError(f"fallback variant {self.fallback.variant!r} is not one of the variants {names}")
            if self.item is None:
                raise ValueError("a fallback counts items: name the 'item' column")
            if self.fallback.min_items > self.top_k:
                raise ValueError(f"fallback.min_items ({self.fallback.min_items}) exceeds top_k ({self.top_k})")
        for g in self.guardrails:
            if g.max_drop is None:
                raise ValueError(f"guardrail {g.name!r} needs 'max_drop' (the relative drop that breaches it)")
        seen = [m.name for m in [*self.metrics, *self.guardrails]]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            raise ValueError(f"metric names are used twice: {dup}")
        return self

    @property
    def control(self) -> str:
        return next(iter(self.variants))

    def weights(self) -> dict[str, float]:
        """Normalized weights: what share of the covered units each variant gets (shadow: the control serves
        every covered unit; interleave: every covered unit sees both, merged)."""
        if self.kind != "ab":
            return {n: (1.0 if n == self.control else 0.0) for n in self.variants}
        total = sum(v.weight for v in self.variants.values())
        return {n: round(v.weight / total, 12) for n, v in self.variants.items()}

    def steps(self) -> list[str]:
        """Upstream steps the variants name."""
        return [v.step for v in self.variants.values() if v.step is not None]


def layer_offsets(experiments: dict[str, ExperimentSpec]) -> tuple[dict[str, float], list[str]]:
    """Each experiment's offset in its layer (explicit, else right after the experiments declared before it in the
    same layer) and the problems: segments [offset, offset + coverage) of one layer must not overlap or pass 1."""
    offsets: dict[str, float] = {}
    problems: list[str] = []
    by_layer: dict[str, list[str]] = {}
    for name, e in experiments.items():
        by_layer.setdefault(e.layer or f"experiment:{name}", []).append(name)
    for layer, names in by_layer.items():
        end = 0.0
        segments: list[tuple[float, float, str]] = []
        for name in names:
            spec = experiments[name]
            start = spec.offset if spec.offset is not None else end
            offsets[name] = round(start, 9)
            segments.append((start, start + spec.coverage, name))
            end = max(end, start + spec.coverage)
        segments.sort()
        for (_s1, e1, n1), (s2, _, n2) in itertools.pairwise(segments):
            if s2 < e1 - 1e-9:
                problems.append(f"layer {layer!r}: experiments {n1!r} and {n2!r} overlap (mutually exclusive)")
        for lo, hi, n in segments:
            if hi > 1 + 1e-9:
                problems.append(f"experiment {n!r}: offset {lo:g} + coverage {hi - lo:g} passes 1 in layer {layer!r}")
    return offsets, problems


def check_experiments(experiments: dict[str, ExperimentSpec]) -> None:
    """Names and layers of the spec's experiments (a ValueError names every problem)."""
    bad = [n for n in experiments if not re.match(EXPERIMENT_NAME, n)]
    if bad:
        raise ValueError(f"experiment names must match {EXPERIMENT_NAME}: {bad}")
    _, problems = layer_offsets(experiments)
    if problems:
        raise ValueError("; ".join(problems))


def settings(name: str, spec: ExperimentSpec, offset: float) -> dict[str, Any]:
    """What a running experiment may not change (it would move assigned units): kind, unit, salt, layer, offset,
    weights. The first persisted record holds them; a run whose spec disagrees fails before serving."""
    return {
        "experiment": name,
        "kind": spec.kind,
        "unit": spec.unit,
        "salt": spec.salt,
        "layer": spec.layer or f"experiment:{name}",
        "offset": offset,
        "weights": spec.weights(),
    }
