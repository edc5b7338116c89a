"""Persisted operations (README: Persisted operations): automatic persisted queries as
Apollo's ``PersistedQueryLink`` sends them, and an allow-list of the apps' operations."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings


class PersistedQueriesMode(StrEnum):
    OFF = "off"  # a hash alone is answered PersistedQueryNotSupported; full queries run
    AUTO = "auto"  # APQ: unknown hash -> PersistedQueryNotFound, the client sends the query
    ALLOWLIST = "allowlist"  # only the manifest's operations run (by hash or in full)


class PersistedQuerySettings(BaseSettings):
    persisted_queries: PersistedQueriesMode = PersistedQueriesMode.AUTO
    # The build-time manifest ({sha256: query}, `anxin persisted-queries build`); required
    # in allowlist mode, and in auto mode its operations are known from the start.
    persisted_queries_manifest: Path | None = None
    # APQ store: in Redis when ANXIN_REDIS_URL is set (entries expire after this long
    # unused), else in the process's memory (least recently used dropped past the count).
    persisted_queries_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    persisted_queries_memory_entries: int = Field(1000, ge=1)  # x max chars: <= 20 MB
    # A query longer than this (characters) is run but not stored.
    persisted_queries_max_query_chars: int = Field(20_000, ge=100)
    # Known queries (a document seen before: persisted ones, an app's fixed operations)
    # run from a compiled plan (schema.compiled); off: graphql-core runs every operation.
    compiled_execution: bool = True
