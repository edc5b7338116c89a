# syntax=docker/dockerfile:1
# Multi-stage: build the virtualenv with compilers available, run it on a slim image
# as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY api ./api
COPY schema ./schema
COPY models ./models
COPY workflows ./workflows
COPY payments ./payments
COPY push ./push
COPY storage ./storage
RUN pip install --no-deps .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ANXIN_ENV=production
RUN groupadd --system anxin && useradd --system --gid anxin --home-dir /app anxin
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER anxin
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# `anxin serve` sets glibc's allocator itself at start-up (api/memory.py: mmap threshold
# 1 MiB, 2 arenas, so decoded photos' memory goes back after a burst of uploads); an
# `ENV MALLOC_MMAP_THRESHOLD_=...` or `MALLOC_ARENA_MAX=...` here would take precedence.
# Run `anxin migrate` once per release (a job), then start as many of these as needed.
CMD ["anxin", "serve", "--host", "0.0.0.0", "--port", "8000"]
