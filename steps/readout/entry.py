"""Reading out an online test: the entry of a readout step's process (``python -m stepml.entry``; ECS in AWS).

Its table input is the experiment's exposure/outcome source (an extract): one row per unit and variant with the
metrics' columns (e.g. impressions, applies); for an interleaving test the variant column names the team that
got the credit. Units seen in more than one variant are counted (the multiple-exposure share) and left out of
the comparison. Then, by kind:

- ``ab``: units per variant against the configured weights (the sample-ratio-mismatch chi-square test), and each
  metric per variant with its interval and the lift of every variant over the control (the delta method for ratio
  metrics and for relative lifts); a guardrail breaches when its metric drops by more than ``max_drop``,
  significantly.
- ``interleave``: per unit, the team whose items earned more of the first metric wins; the preference and its
  sign test.
- ``shadow``: agreement of the two variants' lists (from the serve step's output): overlap@k, rank correlation and
  the drift of the challenger's scores against the control's.

Outputs: ``data/`` the read-out table (one row per metric and variant), ``readout.json`` (everything, for the
report), ``history.json`` and EMF lines: the metrics the spec's alarms watch (``SampleRatioMismatch`` ...).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stepml.entry import EntryResult, Invocation
from stepml.errors import ExperimentError, StepInputError
from stepml.experiments import stats
from stepml.experiments.assign import unit_text
from steps.serve.entry import read_table, require

READOUT = "readout.json"
HISTORY = "history.json"


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def per_unit(frame: pd.DataFrame, unit: str, variant: str, columns: list[str]) -> pd.DataFrame:
    """One row per unit and variant, metric columns summed (a source may give several rows per unit)."""
    frame = frame.assign(_unit=[unit_text(u) for u in frame[unit].to_numpy()], _variant=frame[variant].astype(str))
    return frame.groupby(["_unit", "_variant"], sort=True, as_index=False)[columns].sum()


def readout(
    cfg: Mapping[str, Any], outcomes: pd.DataFrame, lists: Mapping[str, pd.DataFrame], *, step: str
) -> dict[str, Any]:
    """The read-out as a JSON-able report (pure, no I/O)."""
    settings = cfg["settings"]
    kind, control = settings["kind"], next(iter(settings["weights"]))
    unit, variant = cfg["unit"], cfg["variant_column"]
    metrics = [*cfg["metrics"], *cfg["guardrails"]]
    columns = list(
        dict.fromkeys(c for m in metrics for c in (m.get("column"), m.get("numerator"), m.get("denominator")) if c)
    )
    report: dict[str, Any] = {"experiment": settings["experiment"], "kind": kind, "control": control}
    if kind != "shadow" or len(outcomes):
        require(outcomes, [unit, variant, *columns], step, "the read-out's exposure/outcome table")
    rows = per_unit(outcomes, unit, variant, columns) if len(outcomes) else pd.DataFrame(columns=["_unit", "_variant"])
    if kind == "interleave":  # one merged list per unit: its rows are the two teams' credit, not two exposures
        exposure = stats.MultipleExposure(int(rows["_unit"].nunique()), 0, 0.0)
        clean = rows.rename(columns={"_variant": "variant"})
    else:
        exposure = stats.multiple_exposure_share(rows, unit="_unit", variant="_variant")
        multiple = rows.groupby("_unit")["_variant"].transform("nunique") > 1
        clean = rows[~multiple].rename(columns={"_variant": "variant"})
    report["multiple_exposure"] = {
        "units": exposure.units,
        "multiple": exposure.multiple,
        "share": exposure.share,
        "alert": exposure.share > float(cfg["max_multiple_exposure"]),
    }
    table: list[dict[str, Any]] = []
    if kind == "ab":
        known = set(settings["weights"])
        unknown = sorted(set(clean["variant"]) - known)
        if unknown:
            raise StepInputError(
                step, f"the outcome table names variant(s) {unknown} the experiment does not have ({sorted(known)})"
            )
        observed = {v: int((clean["variant"] == v).sum()) for v in settings["weights"]}
        srm = stats.srm_test(observed, settings["weights"])
        report["srm"] = {
            "observed": observed,
            "expected": srm.expected,
            "chi2": srm.chi2,
            "p_value": srm.p_value,
            "alpha": cfg["srm_alpha"],
            "alert": srm.alert(float(cfg["srm_alpha"])),
        }
        breaches = 0
        for m in metrics:
            guard = m.get("max_drop") is not None
            estimates = (
                stats.ratio_metric(clean, m["numerator"], m["denominator"], alpha=cfg["alpha"])
                if m["kind"] == "ratio"
                else stats.mean_metric(clean, m["column"], alpha=cfg["alpha"])
            )
            comparisons = stats.compare_variants(
                clean,
                control=control,
                kind=m["kind"],
                value=m.get("column"),
                numerator=m.get("numerator"),
                denominator=m.get("denominator"),
                alpha=cfg["alpha"],
            )
            for name, est in estimates.items():
                c = comparisons.get(name)
                breached = False
                if guard and c is not None and c.relative_lift is not None:
                    drop = -c.relative_lift if m.get("higher_is_better", True) else c.relative_lift
                    breached = drop > float(m["max_drop"]) and c.significant
                    breaches += int(breached)
                table.append(
                    {
                        "metric": m["name"],
                        "role": "guardrail" if guard else "metric",
                        "variant": name,
                        "units": est.n,
                        "value": _finite(est.value),
                        "ci_low": _finite(est.ci_low),
                        "ci_high": _finite(est.ci_high),
                        "lift": _finite(c.absolute_lift) if c else None,
                        "lift_low": _finite(c.absolute_ci[0]) if c else None,
                        "lift_high": _finite(c.absolute_ci[1]) if c else None,
                        "relative_lift": _finite(c.relative_lift) if c else None,
                        "relative_low": _finite(c.relative_ci[0]) if c and c.relative_ci else None,
                        "relative_high": _finite(c.relative_ci[1]) if c and c.relative_ci else None,
                        "p_value": _finite(c.p_value) if c else None,
                        "significant": bool(c.significant) if c else False,
                        "breached": breached,
                    }
                )
        report["guardrail_breaches"] = breaches
    elif kind == "interleave":
        first = metrics[0] if metrics else None
        col = (first.get("column") or first.get("numerator")) if first else None
        if col is None:
            raise StepInputError(step, "an interleaving read-out needs a metric: the credit a team earns")
        names = list(settings["weights"])
        wide = clean.pivot_table(index="_unit", columns="variant", values=col, aggfunc="sum", fill_value=0)
        a = wide[names[0]] if names[0] in wide else pd.Series(0, index=wide.index)
        b = wide[names[1]] if names[1] in wide else pd.Series(0, index=wide.index)
        test = stats.sign_test(int((a > b).sum()), int((b > a).sum()), ties=int((a == b).sum()), alpha=cfg["alpha"])
        report["preference"] = {
            "a": names[0],
            "b": names[1],
            "wins_a": test.wins_a,
            "wins_b": test.wins_b,
            "ties": test.ties,
            "preference_a": test.preference_a,
            "ci": list(test.ci) if test.ci else None,
            "p_value": test.p_value,
            "metric": col,
        }
        table.append(
            {
                "metric": f"preference_{col}",
                "role": "metric",
                "variant": names[0],
                "units": test.wins_a + test.wins_b,
                "value": _finite(test.preference_a),
                "ci_low": _finite(test.ci[0]) if test.ci else None,
                "ci_high": _finite(test.ci[1]) if test.ci else None,
                "p_value": test.p_value,
                "significant": test.p_value < float(cfg["alpha"]),
            }
        )
    if kind == "shadow":
        names = list(settings["weights"])
        if not all(n in lists for n in names):
            raise StepInputError(step, f"a shadow read-out needs the serve step's lists of {names}")
        item, k = cfg.get("item") or "item", int(cfg["top_k"])
        a, b = (lists[n].assign(_unit=[unit_text(u) for u in lists[n][unit].to_numpy()]) for n in names)
        overlap = stats_shadow().overlap_at_k(a, b, k, unit="_unit", item=item, rank="rank")
        corr = stats_shadow().rank_correlation(a, b, unit="_unit", item=item, rank="rank")
        drift = stats_shadow().score_drift(a["score"].to_numpy(), b["score"].to_numpy())
        report["agreement"] = {
            "overlap_at_k": _finite(overlap.value),
            "k": k,
            "units": overlap.units,
            "rank_correlation": _finite(corr.value),
            "score_psi": _finite(drift.psi),
            "score_ks": _finite(drift.ks),
            "score_ks_p_value": _finite(drift.ks_p_value),
        }
        for name, value in (
            ("overlap_at_k", overlap.value),
            ("rank_correlation", corr.value),
            ("score_psi", drift.psi),
        ):
            table.append(
                {
                    "metric": name,
                    "role": "agreement",
                    "variant": names[1],
                    "units": overlap.units,
                    "value": _finite(value),
                }
            )
    report["table"] = table
    return report


def stats_shadow() -> Any:
    from stepml.experiments import shadow

    return shadow


def datapoints(report: Mapping[str, Any], *, pipeline: str, step: str) -> list[Any]:
    from monitoring.metrics import Datapoint

    dims = {"Pipeline": pipeline, "Step": step}
    points = [
        Datapoint("MultipleExposureShare", float(report["multiple_exposure"]["share"]), dimensions=dims),
        Datapoint("ExperimentUnits", float(report["multiple_exposure"]["units"]), "Count", dims),
    ]
    if "srm" in report:
        points.append(Datapoint("SampleRatioMismatch", 1.0 if report["srm"]["alert"] else 0.0, dimensions=dims))
        points.append(Datapoint("SRMPValue", float(report["srm"]["p_value"]), dimensions=dims))
    if "guardrail_breaches" in report:
        points.append(Datapoint("GuardrailBreaches", float(report["guardrail_breaches"]), "Count", dims))
    return points


def run(inv: Invocation) -> EntryResult:
    from monitoring.metrics import emf_documents, history_record

    cfg, step = inv.config, inv.step
    source = next((n for n, i in inv.inputs.items() if "serving" not in i.kinds), None)
    serving = inv.upstream_of("serving")
    if source is None:
        raise StepInputError(step, "a readout step needs its exposure/outcome table as an upstream step")
    outcomes = read_table(inv.input(source).files(), step, f"the exposure/outcome table {source!r}")
    lists: dict[str, pd.DataFrame] = {}
    if serving is not None:
        for name in cfg["settings"]["weights"]:
            files = inv.input(serving).files(f"variant_{name}")
            if files:
                lists[name] = read_table(files, step, f"variant {name!r}'s lists")
    try:
        report = readout(cfg, outcomes, lists, step=step)
    except ExperimentError as exc:
        raise StepInputError(step, str(exc)) from exc
    out = inv.output
    out.mkdir(parents=True, exist_ok=True)
    (out / READOUT).write_text(json.dumps(report, indent=1, allow_nan=False))
    frame = pd.DataFrame(report["table"])
    (out / "data").mkdir(exist_ok=True)
    frame.to_parquet(out / "data" / "part-00000.parquet", index=False)
    now = time.time()
    points = datapoints(report, pipeline=inv.pipeline, step=step)
    for doc in emf_documents(points, timestamp_ms=int(now * 1000)):
        print(json.dumps(doc, separators=(",", ":")))
    record = history_record(points, pipeline=inv.pipeline, step=step, run_id=inv.run_id, timestamp=now)
    (out / HISTORY).write_text(json.dumps(record, indent=1))
    summary = {k: report[k] for k in ("experiment", "kind", "multiple_exposure") if k in report}
    if "srm" in report:
        summary["srm"] = {"p_value": report["srm"]["p_value"], "alert": report["srm"]["alert"]}
        summary["guardrail_breaches"] = report["guardrail_breaches"]
    detail = _detail(report)
    return EntryResult(rows=len(frame), summary=summary, detail=detail)


def _detail(report: Mapping[str, Any]) -> str:
    parts = [f"{report['experiment']} ({report['kind']})"]
    for row in report["table"]:
        if row.get("relative_lift") is not None and row["role"] == "metric":
            parts.append(
                f"{row['metric']} {row['variant']} {row['relative_lift']:+.1%} "
                f"[{row['relative_low']:+.1%}, {row['relative_high']:+.1%}]"
            )
    if "srm" in report:
        parts.append(f"SRM p={report['srm']['p_value']:.3g}{' ALERT' if report['srm']['alert'] else ''}")
    if "preference" in report:
        p = report["preference"]
        parts.append(f"{p['a']} preferred by {p['preference_a'] or 0:.1%} of decided units (p={p['p_value']:.3g})")
    if "agreement" in report:
        parts.append(f"overlap@{report['agreement']['k']} {report['agreement']['overlap_at_k']:.2f}")
    share = report["multiple_exposure"]["share"]
    parts.append(f"multiple exposure {share:.2%}{' ALERT' if report['multiple_exposure']['alert'] else ''}")
    return "; ".join(parts)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1))
