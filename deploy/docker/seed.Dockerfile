# The one-shot `seed` service of docker-compose.yml: the gateway's runtime (its lock), plus
# chorus-devstack's seeding. Built from the repository root:
#   docker build -f deploy/docker/seed.Dockerfile .
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH
WORKDIR /app
RUN pip install --no-cache-dir uv && uv venv /app/.venv
COPY services/gateway/requirements.lock /app/requirements.lock
RUN uv pip install --python /app/.venv/bin/python --require-hashes --no-deps -r requirements.lock
COPY libs/common /app/libs/common
COPY libs/networks /app/libs/networks
COPY libs/devstack /app/libs/devstack
COPY services/gateway /app/services/gateway
RUN uv pip install --python /app/.venv/bin/python --no-deps /app/libs/common /app/libs/networks /app/libs/devstack /app/services/gateway
COPY deploy/docker/seed.py /app/seed.py
RUN useradd --system --uid 10001 chorus
USER chorus
CMD ["python", "/app/seed.py"]
