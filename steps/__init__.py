"""The step types that ship with stepml: one folder each, every facet of the type inside it.

    extract   a warehouse query to parquet (DuckDB locally; Athena or Redshift UNLOAD in AWS)
    train     a model fitted by the SageMaker training contract (a local process / a SageMaker training job)
    gate      the candidate model against thresholds and the champion (the model registry)
    score     batch predictions, partitioned (local processes / a Distributed Map of ECS tasks)
    check     missing-data, data-quality and drift checks with metrics (a local process / an ECS task)
    python    the user's own function (a local process / an ECS task or a SageMaker Processing job)

``stepml.core.steptypes`` finds them here by folder; a new folder with a ``STEP_TYPE`` is a new type.
"""
