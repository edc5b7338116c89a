"""Where the gateway runs: environment, database, Redis, outbound HTTP, background jobs."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field
from pydantic_settings import BaseSettings

from models.config import DEFAULT_DATABASE_URL


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class RuntimeSettings(BaseSettings):
    env: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None

    http_timeout_seconds: float = 5.0

    # Where providers reach this gateway (payment callbacks).
    public_base_url: str = "http://127.0.0.1:8000"

    # Background jobs (outbox relay, deliveries, reminders) inside the API process.
    # None: yes without Redis (the single-process embedded default), else `anxin worker`.
    background_jobs: bool | None = None
    # Seconds between runs of a periodic job, by job name, where the declared interval
    # does not suit (e.g. {"payouts": 20}); the names are in the README.
    job_intervals: dict[str, float] = {}
    # A long-running loop (relay, deliveries, jobs, bus listener) counts as stuck, and the
    # process as unready, after this many failures in a row or this long without success.
    loop_max_failures: int = Field(5, ge=1)
    loop_stale_seconds: float = Field(60.0, gt=0)
    worker_health_port: int | None = None  # `anxin worker` answers /healthz, /readyz here
    worker_health_host: str = "127.0.0.1"  # 0.0.0.0 for probes from outside the container

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @property
    def run_background_jobs(self) -> bool:
        return self.redis_url is None if self.background_jobs is None else self.background_jobs
