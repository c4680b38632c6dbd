"""The entry of a python step: import the user's function, give it what it asks for, write what it returns.

The function is a plain callable; its parameters are filled by name:

- an input argument (``inputs:``, or an upstream step's name): that upstream table as a pandas DataFrame - or,
  listed under ``stream:``, as a ``pyarrow.dataset.Dataset`` (nothing loaded until it reads); a model upstream
  gives its model folder (a ``pathlib.Path``);
- a run parameter the step lists under ``params:``, typed as declared;
- a key of ``config:``, as given;
- ``ctx``: a :class:`stepml.StepContext` (logger, scratch folder, output folder, run id, partition).

It returns a DataFrame (or a pyarrow Table, or an iterator of either, written as it comes), a dict of named
DataFrames (one table each), a :class:`stepml.Output` (tables, files, metrics), a dict of numbers (metrics) or
None. stepml writes the tables as parquet, counts rows and sizes, and commits them with the manifest.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stepml.entry import EntryResult, Invocation
from stepml.errors import StepExecutionError, StepInputError
from stepml.user import Output, StepContext
from steps.python.write import TableWriter, is_table


def run(inv: Invocation) -> EntryResult:
    fn = _import(inv)
    kwargs = _arguments(inv, fn)
    missing = [n for n in inv.config.get("secrets", []) if not os.environ.get(n)]
    if missing:
        raise StepInputError(
            inv.step, f"secret(s) {missing} are not set: locally, export them as environment variables"
        )
    try:
        returned = fn(**kwargs)
    except (StepInputError, StepExecutionError):
        raise
    except Exception as exc:  # the user's code failed: name the function, keep the traceback in the log
        import traceback

        from stepml.core.redact import redact

        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        raise StepExecutionError(
            inv.step, f"{inv.config['function']} raised {type(exc).__name__}: {exc} (traceback in the step's log)"
        ) from exc
    return _write(inv, returned)


def _import(inv: Invocation) -> Any:
    module, _, name = str(inv.config["function"]).partition(":")
    import importlib

    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        raise StepInputError(
            inv.step, f"cannot import {module!r} for {inv.config['function']}: {type(exc).__name__}: {exc}"
        ) from exc
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise StepInputError(inv.step, f"{module} has no callable {name!r}")
    return fn


def _arguments(inv: Invocation, fn: Any) -> dict[str, Any]:
    sources: Mapping[str, str] = inv.config.get("inputs", {})
    streamed = set(inv.config.get("stream", []))
    params = inv.typed_params()
    wanted_params = set(inv.config.get("params", []))
    config: Mapping[str, Any] = inv.config.get("config", {})
    kwargs: dict[str, Any] = {}
    unfilled = []
    for name, parameter in inspect.signature(fn).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in sources:
            kwargs[name] = _input(inv, sources[name], streamed=name in streamed)
        elif name in wanted_params:
            kwargs[name] = params[name]
        elif name in config:
            kwargs[name] = config[name]
        elif name == "ctx":
            kwargs[name] = _context(inv)
        elif parameter.default is parameter.empty:
            unfilled.append(name)
    if unfilled:
        raise StepInputError(
            inv.step,
            f"{inv.config['function']} needs {unfilled}, which is no input ({sorted(sources)}), listed run "
            f"parameter ({sorted(wanted_params)}), config key ({sorted(config)}) or 'ctx'",
        )
    return kwargs


def _input(inv: Invocation, source: str, *, streamed: bool) -> Any:
    step, _, table = source.partition(".")
    given = inv.input(step)
    if given.model_dir is not None and not given.tables:
        return Path(given.model_dir)
    files = given.files(table)
    if streamed:
        import pyarrow.dataset as ds

        return ds.dataset([str(f) for f in files], format="parquet")
    import pyarrow.parquet as pq

    if not files:
        import pandas as pd

        return pd.DataFrame()
    return pq.ParquetDataset([str(f) for f in files]).read().to_pandas()


class _Redacting(logging.Formatter):
    """Log lines with secrets (keys, tokens, webhook URLs, secret environment values) masked."""

    def format(self, record: logging.LogRecord) -> str:
        from stepml.core.redact import redact

        return redact(super().format(record))


def _context(inv: Invocation) -> StepContext:
    logger = logging.getLogger(f"stepml.{inv.step}")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    inv.scratch.mkdir(parents=True, exist_ok=True)
    return StepContext(
        step=inv.step,
        run_id=inv.run_id,
        params=inv.typed_params(),
        partition=inv.partition,
        scratch=inv.scratch,
        output_dir=inv.output / "files",
        log=logger,
    )


def _write(inv: Invocation, returned: Any) -> EntryResult:
    out = _as_output(inv, returned)
    writer = TableWriter(
        inv.output, partition=inv.partition or 0, rows_per_file=int(inv.config.get("rows_per_file", 500_000))
    )
    counts: dict[str, int] = {}
    if out.table is not None:
        counts[""] = writer.write("", out.table, step=inv.step)
    for name, table in (out.tables or {}).items():
        counts[name] = writer.write(name, table, step=inv.step)
    for name, path in (out.files or {}).items():
        target = inv.output / "files" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(path).resolve() != target.resolve():
            target.write_bytes(Path(path).read_bytes())
    metrics = {k: float(v) for k, v in (out.metrics or {}).items()}
    rows = counts.get("", sum(counts.values()) if counts else None)
    summary = {"function": inv.config["function"], "tables": counts, "metrics": metrics}
    shown = ", ".join(f"{n or 'table'} {c:,} rows" for n, c in counts.items()) or "no table"
    return EntryResult(rows=rows, summary=summary, detail=f"{inv.config['function']}: {shown}")


def _as_output(inv: Invocation, returned: Any) -> Output:
    if returned is None or isinstance(returned, Output):
        return returned or Output()
    if is_table(returned) or (isinstance(returned, Iterable) and not isinstance(returned, Mapping | str | bytes)):
        return Output(table=returned)
    if isinstance(returned, Mapping):
        if all(is_table(v) for v in returned.values()):
            return Output(tables={str(k): v for k, v in returned.items()})
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in returned.values()):
            return Output(metrics=dict(returned))
    raise StepInputError(
        inv.step,
        f"{inv.config['function']} returned {type(returned).__name__}; expected a DataFrame, a dict of DataFrames, "
        "a stepml.Output, a dict of numbers (metrics) or None",
    )
