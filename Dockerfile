# syntax=docker/dockerfile:1
# The appeasement service alone (`python -m service serve`): no embedded PostgreSQL or broker,
# no test tools. Every package comes from requirements/runtime.lock, hash-checked.
#   docker build -t appeasement-service:0.1.0 .        (or: make image)
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
COPY requirements/runtime.lock /tmp/runtime.lock
RUN /opt/venv/bin/python -m pip install --require-hashes -r /tmp/runtime.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY service ./service
# A real (not editable) install: the code lives in site-packages, compiled to bytecode here,
# so the running container never writes .pyc files (its root filesystem may be read-only).
RUN /opt/venv/bin/python -m pip install --no-deps --no-build-isolation . \
    && /opt/venv/bin/python -m pip uninstall --yes setuptools \
    && /opt/venv/bin/python -c "import importlib.metadata as m; print('built', m.version('appeasement-service'))"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 appeasement \
    && useradd --system --uid 10001 --gid appeasement --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin appeasement
COPY --from=build /opt/venv /opt/venv
COPY policy.toml /etc/appeasement/policy.toml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    LOG_FORMAT=json \
    POLICY_FILE=/etc/appeasement/policy.toml
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# /healthz: the process answers (liveness). Readiness (/readyz) is the orchestrator's to ask.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HTTP_PORT', '8080'), timeout=2)"]
CMD ["python", "-m", "service", "serve"]
