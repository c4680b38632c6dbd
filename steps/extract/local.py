"""Extract on a laptop: the query rendered for DuckDB, run on the local warehouse file, streamed to parquet."""

from __future__ import annotations

from stepml.sdk import LocalContext, StepResult
from steps.extract.probe import resolver as lookup_resolver  # the data version of the sources, for the plan
from steps.extract.spec import ExtractStep
from steps.extract.summary import detail, summary


def run(ctx: LocalContext) -> StepResult:
    from steps.extract.query import connect, extract

    step = ctx.spec
    assert isinstance(step, ExtractStep)
    warehouse = ctx.pipeline.resolve(ctx.pipeline.spec.warehouse.local.path)
    con = connect(warehouse, step=ctx.name)
    try:
        result = extract(
            con,
            ctx.pipeline.context(ctx.name).read_text(step.sql),
            ctx.params,
            ctx.out_dir / "data",
            rows_per_file=step.rows_per_file,
            min_rows=step.min_rows,
            step=ctx.name,
        )
    finally:
        con.close()
    return StepResult(
        rows=result.rows, summary=summary(len(result.files)), detail=detail(result.rows, len(result.files))
    )


__all__ = ["lookup_resolver", "run"]
