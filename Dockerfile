# The one pipeline image: SageMaker training (python -m steps.train.entry, also as `train` on PATH for SageMaker's
# classic contract); every step that runs as a process - score, check, the project's own python steps - through
# the task adapter (python -m stepml.cloud.task) in ECS tasks and SageMaker Processing jobs. Built by `cdk deploy`
# when the spec names no container.image_uri. The project's own code (examples/) is copied in; its extra Python
# dependencies come from the spec's container.requirements (build arg REQUIREMENTS).
FROM public.ecr.aws/docker/library/python:3.11-slim

# PYTHONHASHSEED: string hashes (set order) fixed, so a model pickled here is byte-identical to one pickled by a
# local run (stepml.local.process.STEP_ENV): equal keys, equal model digests
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONHASHSEED=0 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

ARG REQUIREMENTS=""
WORKDIR /opt/stepml
COPY pyproject.toml requirements.lock README.md ./
COPY stepml ./stepml
COPY steps ./steps
COPY monitoring ./monitoring
COPY examples ./examples
COPY sql ./sql
RUN pip install -c requirements.lock . \
    && if [ -n "$REQUIREMENTS" ]; then pip install -c requirements.lock -r "$REQUIREMENTS"; fi \
    && printf '#!/bin/sh\nexec python -m steps.train.entry "$@"\n' > /usr/local/bin/train \
    && chmod +x /usr/local/bin/train \
    && useradd --create-home --uid 1000 stepml
ENV PYTHONPATH=/opt/stepml

# SageMaker runs training as root (it writes /opt/ml); the ECS task definitions run as uid 1000.
ENTRYPOINT []
CMD ["train"]
