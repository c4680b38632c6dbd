"""stepml: one declared ML pipeline, run locally (DuckDB, local processes) or compiled to AWS CDK stacks.

Kept import-light: ``import stepml`` loads nothing heavy; ``build``/``load`` import what they need when called.
User step functions may take a ``ctx: stepml.StepContext`` and return a ``stepml.Output``; ``stepml.testing``
runs one step in a unit test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepml.user import Output, StepContext

__version__ = "0.2.0"


def build(step: str, **kwargs: Any) -> Any:
    """Run what ``step`` needs (using the cache) and return its output. See :func:`stepml.api.build`."""
    from stepml.api import build as _build

    return _build(step, **kwargs)


def load(step: str, **kwargs: Any) -> Any:
    """Read ``step``'s output from a finished run. See :func:`stepml.api.load`."""
    from stepml.api import load as _load

    return _load(step, **kwargs)


def runs(**kwargs: Any) -> list[dict[str, Any]]:
    """The pipeline's runs (their records), oldest first. See :func:`stepml.api.runs`."""
    from stepml.api import runs as _runs

    return _runs(**kwargs)


def models(**kwargs: Any) -> list[dict[str, Any]]:
    """The project's registered model versions, aliases and metrics. See :func:`stepml.api.models`."""
    from stepml.api import models as _models

    return _models(**kwargs)


def fetch(sql: str, **kwargs: Any) -> Any:
    """Run a parameterized warehouse query and return a DataFrame. See :func:`stepml.api.fetch`."""
    from stepml.api import fetch as _fetch

    return _fetch(sql, **kwargs)


def experiments(**kwargs: Any) -> list[dict[str, Any]]:
    """The spec's online tests and their state. See :func:`stepml.api.experiments`."""
    from stepml.api import experiments as _experiments

    return _experiments(**kwargs)


def assignments(experiment: str, **kwargs: Any) -> Any:
    """Every unit an experiment served, with its first assignment. See :func:`stepml.api.assignments`."""
    from stepml.api import assignments as _assignments

    return _assignments(experiment, **kwargs)


def serving(experiment: str, **kwargs: Any) -> Any:
    """An experiment's serving table (optionally into a DuckDB file). See :func:`stepml.api.serving`."""
    from stepml.api import serving as _serving

    return _serving(experiment, **kwargs)


def __getattr__(name: str) -> Any:
    """``stepml.Output`` and ``stepml.StepContext``, imported when first used (``import stepml`` stays light)."""
    if name in ("Output", "StepContext"):
        from stepml import user

        return getattr(user, name)
    raise AttributeError(f"module 'stepml' has no attribute {name!r}")


__all__ = [
    "Output",
    "StepContext",
    "__version__",
    "assignments",
    "build",
    "experiments",
    "fetch",
    "load",
    "models",
    "runs",
]
