"""Run parameters into a train step's hyperparameters, in the cloud plan Lambda (standard library)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def fill_params(hyper: Mapping[str, str], refs: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, str]:
    """``hyper`` (``TrainStep.hyperparameters(ctx, None)``: SageMaker hyperparameters, every value a string) with
    the hyperparameters that ``refs`` maps to run parameters filled from ``params`` (canonical JSON values)."""
    model_params = json.loads(hyper["model_params"])
    model_params.update({k: params[p] for k, p in refs.items()})
    return {**hyper, "model_params": json.dumps(model_params, sort_keys=True)}
