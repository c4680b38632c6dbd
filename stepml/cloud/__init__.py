"""The AWS executor: the spec compiled to a Step Functions definition, and the light Lambda and task adapters.

    asl/        pure compiler: pipeline -> Amazon States Language (no AWS calls, no files); each step's states
                come from its type's ``states`` facet inside a generic envelope
    bundle.py   what the Lambda functions embed (plan input, per-step cloud settings) and staging the asset
    handlers/   boto3-only Lambda handlers: plan (keys), commit (manifests, via each type's ``cloud`` facet),
                notify (summary, run record)
    task.py     the task adapter in the pipeline image: stages S3 inputs, runs ``stepml.entry``, uploads outputs
    ops.py      operating executions (start, status, resume, logs)
    metrics.py  the CloudWatch conventions of the alarms and dashboard

Only ``asl/`` and ``bundle.py`` import the spec (pydantic); ``handlers/`` import the standard library, the
standard-library core (``stepml.core``) and boto3, so the Lambda asset carries no heavy library.
"""
