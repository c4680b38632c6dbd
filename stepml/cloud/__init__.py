"""The AWS executor: the spec compiled to a Step Functions definition, and the light Lambda/ECS adapters.

    asl.py          pure compiler: pipeline spec + plan input -> Amazon States Language (no AWS calls, no files)
    bundle.py       what the Lambda functions embed (plan input, SQL templates, step settings) and staging them
    sqltokens.py    SQL rendered at synth time with typed placeholder tokens; literals substituted per run
    handlers/       boto3-only Lambda handlers: plan (keys), commit (manifests, gate decision), notify (summary)
    task.py         the ECS task adapter: stages S3 inputs, runs ``python -m steps.score|check``, uploads outputs

Only ``asl.py`` and ``bundle.py`` import the spec (pydantic); ``handlers/`` and ``sqltokens.py`` import the standard
library, ``stepml.plan``/``params``/``errors`` and boto3, so the Lambda asset carries no heavy library.
"""
