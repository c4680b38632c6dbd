"""What a user's step function may ask for (``ctx``) and return (``Output``). Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging


@dataclass(frozen=True)
class StepContext:
    """Given to a step function that has a ``ctx`` parameter."""

    step: str
    run_id: str
    params: Mapping[str, Any]  # every run parameter, typed
    partition: int | None  # which partition this call computes (a partitioned step), else None
    scratch: Path  # a private temporary folder, removed after the step
    output_dir: Path  # files written here are committed with the step's output (``files/``)
    log: logging.Logger  # goes to the step's log


@dataclass
class Output:
    """What a step function may return when one DataFrame is not enough."""

    table: Any = None  # the main table: a pandas DataFrame, a pyarrow Table, or an iterator of either
    tables: Mapping[str, Any] = field(default_factory=dict)  # named tables (downstream: ``inputs: {x: step.name}``)
    files: Mapping[str, str | Path] = field(default_factory=dict)  # name -> a file to commit under ``files/``
    metrics: Mapping[str, float] = field(default_factory=dict)  # numbers recorded in the step's summary
