# One image definition for every service, built from the repository root:
#   docker build --build-arg SERVICE=gateway -t chorus-gateway .
# Pinned third-party packages first (a cached layer that only changes with the lock), then
# only the workspace members this service needs.
FROM python:3.11-slim-bookworm AS base
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH
WORKDIR /app
RUN pip install --no-cache-dir uv && uv venv /app/.venv
COPY requirements.lock /app/requirements.lock
RUN uv pip install --python /app/.venv/bin/python --require-hashes --no-deps -r requirements.lock
COPY libs/common /app/libs/common
COPY services/${SERVICE} /app/services/${SERVICE}
RUN uv pip install --python /app/.venv/bin/python --no-deps /app/libs/common /app/services/${SERVICE}
RUN useradd --system --uid 10001 chorus
USER chorus
ENV CHORUS_SERVICE=${SERVICE}
# The migrate step runs this image with `python -m chorus.common.migrate`.
CMD ["sh", "-c", "exec python -m chorus.${CHORUS_SERVICE}"]
