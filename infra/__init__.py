"""CDK app of stepml: the pipeline spec compiled to data, pipeline and monitoring stacks (see docs/deploy.md)."""
