"""Extract: a parameterized warehouse query (Athena/Trino SQL) written as parquet files."""

from stepml.core.steptypes import StepType

STEP_TYPE = StepType(
    name="extract",
    spec="steps.extract.spec:ExtractStep",
    local="steps.extract.local:run",
    states="steps.extract.states:build",
    cloud="steps.extract.cloud",
    read="stepml.outputs:read_tables",
    produces=("table",),
    sources=("steps.extract.query",),
    helpers={"fetch": "steps.extract.query:fetch", "fetch_athena": "steps.extract.athena:fetch_athena"},
    description="Run a warehouse query; DuckDB locally, Athena/Redshift UNLOAD in AWS.",
)
