"""Claims: the adjuster's authority, and where claim photos and documents are kept."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class ClaimSettings(BaseSettings):
    # Claims: above this approved amount an adjuster's decision waits for a supervisor.
    adjuster_authority_limit: Decimal = Decimal("50000.00")
    # Complaints: money remedies above this total (and every claim re-review) wait for a
    # complaint supervisor other than the proposer.
    complaint_remedy_approval_limit: Decimal = Decimal("500.00")
    complaint_attachment_max_files: int = Field(9, ge=1, le=20)  # per complaint

    # Claim photos and documents.
    storage_backend: StorageBackend = StorageBackend.LOCAL
    storage_root: Path = Path("data/files")
    storage_url_prefix: str = "/files"  # or an absolute https URL behind a proxy
    storage_temp_dir: Path | None = None  # on disk, not tmpfs: uploads spool here
    signed_url_ttl_seconds: int = Field(300, ge=10, le=86_400)
    upload_max_bytes: int = 25 * 1024 * 1024
    upload_max_pixels: int = 50_000_000  # 48 MP iPhone photos pass
    upload_max_files: int = 10  # per request
    upload_decode_concurrency: int = Field(2, ge=1)
    # Estimated bytes of the photos decoding at once (storage/decoding.py): a 12 MP photo
    # is 46 MiB decoded (twice that while rotated), a 48 MP one 183 MiB; one photo larger
    # than the budget still decodes, alone.
    upload_decode_memory_bytes: int = Field(192 * 1024 * 1024, ge=1)
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "cn-north-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
