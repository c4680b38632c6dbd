# The one pipeline image: SageMaker training (python -m steps.train, also as `train` on PATH for SageMaker's
# classic contract), ECS scoring and checks (python -m stepml.cloud.task score|check, which runs
# python -m steps.score / steps.check). Built by `cdk deploy` when the spec names no container.image_uri.
FROM public.ecr.aws/docker/library/python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/stepml
COPY pyproject.toml requirements.lock README.md ./
COPY stepml ./stepml
COPY steps ./steps
COPY monitoring ./monitoring
RUN pip install -c requirements.lock . \
    && printf '#!/bin/sh\nexec python -m steps.train "$@"\n' > /usr/local/bin/train \
    && chmod +x /usr/local/bin/train \
    && useradd --create-home --uid 1000 stepml

# SageMaker runs training as root (it writes /opt/ml); the ECS task definitions run as uid 1000.
ENTRYPOINT []
CMD ["train"]
