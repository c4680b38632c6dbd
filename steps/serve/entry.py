"""Serving an online test: the entry of a serve step's process (``python -m stepml.entry``; an ECS task in AWS).

1. **Assign.** Every distinct unit of the served table gets its bucket and variant from
   :func:`stepml.experiments.assign.assign` (a salted SHA-256, identical wherever it runs). Units outside the
   coverage, or outside the ``audience``, are not in the experiment and are served the control.
2. **Lists.** Each variant's scored items per unit: a model variant scores the input table (its id columns, the
   unit and item columns kept), a step variant's table is read as it is (unit, item, score). Items are ranked by
   score (ties by item) and cut at ``top_k``.
3. **Serve.** ``ab``: a unit sees its variant's list (or the ``fallback`` variant's, marked, when its own has
   fewer than ``min_items``); ``interleave``: the two lists merged by team-draft (or balanced) interleaving, each
   item with its team; ``shadow``: the control's list, the challenger's only in its own table, never served.

Outputs: ``data/`` the serving table (unit, item, rank, score, variant, served_variant, in_experiment, fallback,
team, experiment, run_id); ``tables/variant_<name>/`` each variant's lists (A/B: only its units; interleave and
shadow: every covered unit); ``tables/assignments/`` one row per unit (experiment, salt, unit, variant, bucket,
in_experiment, assigned_at: when this run served; ``stepml experiments assignments`` gives each unit's
first assignment over every serve the experiment recorded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stepml.entry import EntryResult, Invocation
from stepml.errors import StepInputError, write_error
from stepml.experiments.assign import Assignment, assign, unit_text
from stepml.experiments.record import PUBLISHED
from steps._model import load_model
from steps._parquet import read_parquet_files

RANK, SCORE, TEAM = "rank", "score", "team"


# --------------------------------------------------------------------------------------------- core


def read_table(files: Sequence[Path], step: str, what: str) -> pd.DataFrame:
    if not files:
        raise StepInputError(step, f"{what} has no files")
    schema = pq.read_schema(files[0])
    return read_parquet_files(files, columns=list(schema.names), step=step)


def require(frame: pd.DataFrame, columns: Sequence[str | None], step: str, what: str) -> None:
    missing = [c for c in columns if c and c not in frame.columns]
    if missing:
        raise StepInputError(step, f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def model_scores(model_dir: Path, table: pd.DataFrame, step: str, variant: str) -> tuple[np.ndarray[Any, Any], str]:
    """(ranking score per row, model version label) of a variant's model: the positive class's probability of a
    binary classifier, the prediction of a regressor."""
    from steps.score.entry import predict

    model = load_model(model_dir, step=step)
    require(table, model.meta.features, step, f"the input table (features of variant {variant!r}'s model)")
    prediction, score = predict(model, table)
    if score is None and model.meta.task == "classification":
        raise StepInputError(step, f"variant {variant!r}: a multi-class model has no single score to rank by")
    return np.asarray(score if score is not None else prediction, dtype=np.float64), model.meta.name or variant


def ranked(frame: pd.DataFrame, unit: str, item: str | None, top_k: int) -> pd.DataFrame:
    """Rows ranked by score within each unit (ties by item), rank from 1, cut at ``top_k`` when lists have items."""
    order = [unit, SCORE, *([item] if item else [])]
    out = frame.sort_values(order, ascending=[True, False, *([True] if item else [])], kind="mergesort")
    out = out.assign(**{RANK: out.groupby(unit, sort=False).cumcount() + 1})
    if item:
        out = out[out[RANK] <= top_k]
    return out.reset_index(drop=True)


def assignment_frame(assignments: Sequence[Assignment], settings: Mapping[str, Any], first: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "experiment": settings["experiment"],
            "salt": settings["salt"],
            "unit": [a.unit for a in assignments],
            "variant": [a.variant for a in assignments],
            "bucket": np.array([a.bucket for a in assignments], dtype=np.int32),
            "in_experiment": [a.in_experiment for a in assignments],
            "assigned_at": first,
        }
    )


def interleave_lists(
    lists: Mapping[str, pd.DataFrame], units: set[str], cfg: Mapping[str, Any], salt: str
) -> pd.DataFrame:
    """The two variants' lists of ``units`` merged per unit (team-draft or balanced interleaving, coins from the
    salt and the unit: the same list wherever it runs), each item with its team (the variant that placed it) and
    that variant's score."""
    from stepml.experiments.interleave import interleave_frame

    unit, item, k = cfg["unit"], cfg["item"], int(cfg["top_k"])
    a_name, b_name = list(lists)
    a, b = (lists[n][lists[n]["_unit"].isin(units)] for n in (a_name, b_name))
    both = pd.concat([a.assign(_team="A"), b.assign(_team="B")], ignore_index=True)
    merged = interleave_frame(
        both[["_unit", item, RANK, "_team"]],
        k,
        salt=salt,
        method=cfg.get("interleaving", "team_draft"),
        unit="_unit",
        item=item,
        rank=RANK,
        variant="_team",
    )
    merged = merged.rename(columns={"position": RANK, "team": "_team"})
    scores = both[["_unit", item, "_team", SCORE, unit]]
    out = merged.merge(scores, on=["_unit", item, "_team"], how="left")
    out[TEAM] = np.where(out["_team"] == "A", a_name, b_name)
    out = out.drop(columns=["_team"])
    return out.astype({TEAM: "string"})


def serve(
    cfg: Mapping[str, Any],
    table: pd.DataFrame | None,
    variant_lists: Mapping[str, pd.DataFrame],
    *,
    step: str,
    assigned_at: str,
) -> dict[str, pd.DataFrame]:
    """The serving tables from each variant's scored rows (unit, [item,] score, ...): pure, no I/O."""
    settings = cfg["settings"]
    unit, item = cfg["unit"], cfg.get("item")
    kind, control = settings["kind"], next(iter(settings["weights"]))
    lists: dict[str, pd.DataFrame] = {}
    for name, scored in variant_lists.items():
        require(scored, [unit, item, SCORE], step, f"variant {name!r}'s scored table")
        if scored[SCORE].isna().any():
            raise StepInputError(step, f"variant {name!r}: {int(scored[SCORE].isna().sum())} rows have no score")
        keyed = scored.assign(_unit=[unit_text(u) for u in scored[unit].to_numpy()])
        lists[name] = ranked(keyed, "_unit", item, int(cfg["top_k"]))
    all_units = pd.unique(pd.concat([lst["_unit"] for lst in lists.values()], ignore_index=True))
    assignments = assign(all_units, settings, float(cfg["coverage"]))
    audience = cfg.get("audience")
    if audience:
        if table is None or audience["column"] not in table.columns:
            raise StepInputError(step, f"the audience column {audience['column']!r} is not in the served table")
        allowed = {unit_text(u) for u in table.loc[table[audience["column"]].isin(audience["values"]), unit]}
        assignments = [a if a.unit in allowed else Assignment(a.unit, a.bucket, False, control) for a in assignments]
    frame = assignment_frame(assignments, settings, assigned_at)
    by_unit = frame.set_index("unit")
    inside = set(frame.loc[frame["in_experiment"], "unit"])
    out: dict[str, pd.DataFrame] = {"assignments": frame}

    def tagged(lst: pd.DataFrame, served: str) -> pd.DataFrame:
        variant = by_unit.loc[lst["_unit"], "variant"].to_numpy()
        return lst.assign(
            variant=variant,
            served_variant=served,
            in_experiment=lst["_unit"].isin(inside).to_numpy(),
            fallback=False,
            team=pd.Series([None] * len(lst), dtype="string"),
        )

    if kind == "ab":
        parts = []
        fallback = cfg.get("fallback")
        counts = {n: lst.groupby("_unit").size() for n, lst in lists.items()}
        for name, lst in lists.items():
            mine = frame.loc[(frame["variant"] == name), "unit"]
            keep = lst[lst["_unit"].isin(set(mine))]
            out[f"variant_{name}"] = keep.drop(columns=["_unit"])
            if fallback and name != fallback["variant"]:
                short = {u for u in mine if counts[name].get(u, 0) < int(fallback["min_items"])}
                keep = keep[~keep["_unit"].isin(short)]
                alt = lists[fallback["variant"]]
                alt = tagged(alt[alt["_unit"].isin(short)], fallback["variant"]).assign(fallback=True)
                parts.append(alt)
            parts.append(tagged(keep, name))
        serving = pd.concat(parts, ignore_index=True)
    elif kind == "shadow":
        for name, lst in lists.items():
            out[f"variant_{name}"] = lst[lst["_unit"].isin(inside)].drop(columns=["_unit"])
        serving = tagged(lists[control], control)
    else:  # interleave
        for name, lst in lists.items():
            out[f"variant_{name}"] = lst[lst["_unit"].isin(inside)].drop(columns=["_unit"])
        merged = interleave_lists(lists, inside, cfg, str(settings["salt"]))
        outside = lists[control][~lists[control]["_unit"].isin(inside)]
        serving = pd.concat(
            [
                tagged(outside, control),
                merged.assign(variant="interleaved", served_variant="interleaved", in_experiment=True, fallback=False),
            ],
            ignore_index=True,
        )
    serving = serving.assign(experiment=settings["experiment"])
    keep_cols = [
        unit,
        *([item] if item else []),
        RANK,
        SCORE,
        "variant",
        "served_variant",
        "in_experiment",
        "fallback",
        TEAM,
        "experiment",
    ]
    out["serving"] = serving.sort_values(["_unit", RANK], kind="mergesort")[keep_cols].reset_index(drop=True)
    return out


def published(serving: pd.DataFrame, unit: str, item: str | None, run_id: str) -> pd.DataFrame:
    """The serving table as published for the serving side (an Athena table in AWS): unit and item ids as
    strings (one schema, whatever the warehouse's id types), the run that computed it."""
    out = serving.assign(**{unit: [unit_text(u) for u in serving[unit].to_numpy()]})
    if item:
        out[item] = [unit_text(i) for i in serving[item].to_numpy()]
    out = out.assign(serving_run=run_id)
    return out.astype(
        {
            TEAM: "string",
            "variant": "string",
            "served_variant": "string",
            "experiment": "string",
            RANK: "int64",
            SCORE: "float64",
            "in_experiment": "bool",
            "fallback": "bool",
        }
    )


# --------------------------------------------------------------------------------------------- entry


def run_time(run_id: str) -> str:
    """The time a run started, from its id (``20260501T030000-1a2b3c``), as ISO 8601 UTC."""
    from datetime import datetime

    try:
        return datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _write(frame: pd.DataFrame, path: Path, step: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(step, path, exc) from exc


def run(inv: Invocation) -> EntryResult:
    cfg = inv.config
    step = inv.step
    unit, item = cfg["unit"], cfg.get("item")
    table = None
    if cfg.get("input"):
        table = read_table(inv.input(cfg["input"]).files(), step, f"the served table {cfg['input']!r}")
        require(table, [unit, item], step, f"the served table {cfg['input']!r}")
    variant_lists: dict[str, pd.DataFrame] = {}
    versions: dict[str, Any] = {}
    for name, source in cfg["variants"].items():
        if "model" in source:
            given = inv.input(source["model"])
            if given.model_dir is None or table is None:
                raise StepInputError(step, f"variant {name!r}: no model folder or no table to score")
            scores, _ = model_scores(Path(given.model_dir), table, step, name)
            keep = [c for c in dict.fromkeys([unit, *([item] if item else [])])]
            variant_lists[name] = table[keep].assign(**{SCORE: scores})
            versions[name] = given.summary.get("version")
        else:
            rows = read_table(inv.input(source["table"]).files(), step, f"variant {name!r}'s table {source['table']!r}")
            require(rows, [unit, item, cfg.get("score", SCORE)], step, f"variant {name!r}'s table {source['table']!r}")
            variant_lists[name] = rows.rename(columns={cfg.get("score", SCORE): SCORE})
            versions[name] = source["table"]
    out = serve(cfg, table, variant_lists, step=step, assigned_at=run_time(inv.run_id))
    for name, frame in out.items():
        rel = Path("data") if name == "serving" else Path("tables") / name
        _write(frame, inv.output / rel / "part-00000.parquet", step)
    _write(published(out["serving"], unit, item, inv.run_id), inv.output / PUBLISHED, step)
    frame = out["assignments"]
    inside = frame[frame["in_experiment"]]
    split = {str(k): int(v) for k, v in inside.groupby("variant").size().items()}
    serving = out["serving"]
    summary = {
        "experiment": cfg["settings"]["experiment"],
        "kind": cfg["settings"]["kind"],
        "units": len(frame),
        "in_experiment": len(inside),
        "split": split,
        "fallbacks": int(serving.loc[serving["fallback"], unit].nunique()) if len(serving) else 0,
        "versions": versions,
    }
    shares = ", ".join(f"{k} {v:,}" for k, v in split.items())
    detail = (
        f"{summary['experiment']} ({summary['kind']}): {len(inside):,} of {len(frame):,} units in the test"
        f" ({shares}); {len(serving):,} rows served"
    )
    return EntryResult(rows=len(serving), summary=summary, detail=detail)
