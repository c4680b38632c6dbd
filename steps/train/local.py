"""Train on a laptop: ``python -m steps.train.entry`` in a temporary ``/opt/ml``-shaped folder, as SageMaker runs
the training image."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepml.sdk import LocalContext, StepResult, read_folder
from steps.train.spec import TrainStep
from steps.train.summary import detail, rows, summary

if TYPE_CHECKING:
    from stepml.store.objects import Store


def run(ctx: LocalContext) -> StepResult:
    step = ctx.spec
    assert isinstance(step, TrainStep)
    source = ctx.upstream_of("table")
    assert source is not None
    opt_ml = ctx.scratch / "opt" / "ml"
    config_dir = opt_ml / "input" / "config"
    channel = opt_ml / "input" / "data" / "train"
    config_dir.mkdir(parents=True, exist_ok=True)
    channel.mkdir(parents=True, exist_ok=True)
    hyper = step.hyperparameters(ctx.pipeline.context(ctx.name), ctx.plan.params)
    (config_dir / "hyperparameters.json").write_text(json.dumps(hyper, indent=2))
    for i, path in enumerate(ctx.input_paths(source)):
        link = channel / f"part-{i:05d}.parquet"
        try:
            link.symlink_to(path)
        except OSError:
            link.write_bytes(path.read_bytes())
    model_dir = ctx.out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    output = opt_ml / "output"
    env = {
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_INPUT_CONFIG_DIR": str(config_dir),
        "SM_OUTPUT_DIR": str(output),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
    }
    # the entrypoint reads SM_* when it runs: the warm worker may run it, its pandas and pyarrow imported already
    ctx.run_process(
        ["-m", "steps.train.entry"], env=env, failure_file=output / "failure", log_name="train", warm_ok=True
    )
    metrics = json.loads((model_dir / "metrics.json").read_text())
    meta = json.loads((model_dir / "stepml_model.json").read_text())
    return StepResult(
        rows=rows(metrics),
        summary=summary(metrics, ctx.output_uri("model"), ctx.step.key, meta),
        detail=detail(metrics),
    )


@dataclass
class TrainedModel:
    model: Any  # steps._model.LoadedModel: predict / predict_proba on raw feature columns
    metrics: dict[str, Any]
    meta: dict[str, Any]
    profile: dict[str, Any]
    version: str  # the train step's key

    def predict(self, frame: Any) -> Any:
        return self.model.predict(frame[self.meta["features"]])


def read(store: Store, manifest: dict[str, Any]) -> TrainedModel:
    from steps._model import load_model, read_meta

    files = read_folder(store, manifest, "model")
    folder = files["metrics.json"].parent
    return TrainedModel(
        model=load_model(folder, step=manifest.get("step", "train")),
        metrics=json.loads(files["metrics.json"].read_text()),
        meta=read_meta(folder, step=manifest.get("step", "train")).to_dict(),
        profile=json.loads(files["profile.json"].read_text()) if "profile.json" in files else {},
        version=manifest["key"],
    )
