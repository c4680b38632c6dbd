"""Check and drift settings: the small serializable definitions behind the spec's ``check`` step.

Pydantic only (no numpy, pyarrow or pandas), so loading a spec stays light: ``stepml.spec.CheckStep`` uses these
models directly, and the check task receives the same fields as JSON (``CheckConfig``). Defaults are documented
in docs/monitoring.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Effect = Literal["wasserstein", "psi"]
Correction = Literal["bh", "holm", "bonferroni", "none"]


class ColumnDrift(BaseModel):
    """Per-column overrides of the drift defaults (the spec's ``check.columns.<name>``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    effect: Effect | None = None  # numeric only; categorical columns always use PSI
    threshold: float | None = Field(default=None, ge=0.0)
    min_sample_size: int | None = Field(default=None, ge=1)
    units: list[str] | None = None  # the column(s) naming the entity this column describes


class DriftSettings(BaseModel):
    """Drift defaults; each is documented in docs/monitoring.md."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)  # significance level after correction
    correction: Correction = "bh"  # multiple-testing control across the tested columns
    numeric_effect: Effect = "wasserstein"
    wasserstein_threshold: float = Field(default=0.1, ge=0.0)  # shift in reference standard deviations
    psi_threshold: float = Field(default=0.1, ge=0.0)  # 0.1 "moderate", 0.25 "major" in credit-scoring lore
    psi_bins: int = Field(default=10, ge=2, le=1000)
    # numeric columns whose reference holds at most this many distinct values (each an edge, >= 5 rows per
    # value): chi-square over the values instead of KS, whose p-values assume a continuous distribution
    discrete_max_values: int = Field(default=20, ge=0, le=1001)
    min_sample_size: int = Field(default=100, ge=1)
    dataset_drift_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # entity-aware mode: unit column -> the features describing that entity ({candidate_id: [skill_score]}).
    # Rows of one unit are not independent (a candidate's ten invitations repeat its features): those features
    # are profiled, tested and counted one row per unit, in the reference (train) and in the batch (check).
    units: dict[str, list[str]] = Field(default_factory=dict)
    columns: dict[str, ColumnDrift] = Field(default_factory=dict)

    def units_of(self) -> dict[str, list[str]]:
        """feature -> its unit column(s), from ``units`` and the per-column ``units`` (which win)."""
        out: dict[str, list[str]] = {}
        for unit, features in self.units.items():
            for feature in features:
                out.setdefault(feature, []).append(unit)
        for name, c in self.columns.items():
            if c.units:
                out[name] = list(c.units)
        return out

    def for_column(self, name: str, kind: str) -> tuple[bool, Effect, float, int]:
        """(enabled, effect size, its threshold, min sample size) of column ``name``."""
        o = self.columns.get(name) or ColumnDrift()
        effect: Effect = (o.effect or self.numeric_effect) if kind == "numeric" else "psi"
        default = self.wasserstein_threshold if effect == "wasserstein" else self.psi_threshold
        threshold = o.threshold if o.threshold is not None else default
        return o.enabled, effect, threshold, o.min_sample_size or self.min_sample_size


class ColumnCheck(BaseModel):
    """Per-column overrides of the dataset-wide defaults (the spec's ``check.columns.<name>``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_null_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    max_nonfinite_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    drift: bool = True  # false: no drift verdict for this column
    drift_effect: Effect | None = None  # numeric columns: wasserstein (default) or psi
    drift_threshold: float | None = Field(default=None, ge=0.0)
    min_sample_size: int | None = Field(default=None, ge=1)
    range_tolerance: float | None = Field(default=None, ge=0.0)
    max_unseen_share: float | None = Field(default=None, ge=0.0, le=1.0)
    min_value: float | None = None  # explicit range instead of the reference's (+- tolerance)
    max_value: float | None = None
    units: list[str] | None = None  # the column(s) naming the entity this column describes (drift per unit)


class ExpectationSettings(BaseModel):
    """The Great Expectations suite generated from the reference profile (monitoring.expectations)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    range_tolerance: float = Field(default=0.1, ge=0.0)  # share of the reference range added on each side
    max_out_of_range_share: float = Field(default=0.01, ge=0.0, le=1.0)
    max_unseen_share: float = Field(default=0.01, ge=0.0, le=1.0)
    # chance that a batch from the reference's own distribution fails a range or in-set expectation: the
    # allowed count outside is at least the beta-binomial (1 - this) quantile that a reference of N values
    # implies (mean 2/(N+1) outside its range; (singletons+1)/(N+1) unseen), so small tables and batches pass
    false_failure_rate: float = Field(default=0.001, gt=0.0, lt=1.0)
    max_rows: int | None = Field(default=100_000, ge=1)  # validate a deterministic sample of this many rows


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    sample_rows: int = Field(default=5_000, ge=0)  # rows kept for evidently's report (0: none)


class CheckConfig(BaseModel):
    """The ``check`` step's configuration (the spec's check step, passed to the task as JSON)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_rows: int = Field(default=1, ge=0)
    max_null_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    max_nonfinite_fraction: float = Field(default=0.0, ge=0.0, le=1.0)  # +-Inf among non-null values
    columns: dict[str, ColumnCheck] = Field(default_factory=dict)
    fail_run: bool = False
    drift: DriftSettings = Field(default_factory=DriftSettings)
    expectations: ExpectationSettings = Field(default_factory=ExpectationSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    def null_threshold(self, column: str) -> tuple[float, bool]:
        """The null-fraction threshold for ``column`` and whether it is an override."""
        override = self.columns.get(column)
        if override is not None and override.max_null_fraction is not None:
            return override.max_null_fraction, True
        return self.max_null_fraction, False

    def profile_units(self) -> dict[str, list[str]]:
        """feature -> unit column(s): what the training step profiles per unit (``build_reference(units=)``)."""
        return self.drift_settings().units_of()

    def nonfinite_threshold(self, column: str) -> float:
        """The largest allowed share of +-Inf among the non-null values of ``column``."""
        override = self.columns.get(column)
        if override is not None and override.max_nonfinite_fraction is not None:
            return override.max_nonfinite_fraction
        return self.max_nonfinite_fraction

    def drift_settings(self) -> DriftSettings:
        """The drift settings with the per-column overrides of ``columns`` folded in."""
        cols = dict(self.drift.columns)
        for name, c in self.columns.items():
            if not c.drift or c.drift_effect or c.drift_threshold is not None or c.min_sample_size or c.units:
                cols[name] = ColumnDrift(
                    enabled=c.drift,
                    effect=c.drift_effect,
                    threshold=c.drift_threshold,
                    min_sample_size=c.min_sample_size,
                    units=c.units,
                )
        return self.drift.model_copy(update={"columns": cols})
