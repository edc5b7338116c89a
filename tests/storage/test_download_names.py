"""Download names follow the stored type: uploads are re-encoded (an iPhone's HEIC is
stored as JPEG), so ``IMG_4032.HEIC`` must be saved as ``IMG_4032.jpg``, by the local
endpoint and by S3's pre-signed links alike, whatever name the link was signed with."""

from __future__ import annotations

import httpx
import pytest

from storage.base import content_disposition, download_name
from storage.local import LocalStorage
from storage.s3 import S3Storage
from tests.storage.samples import chunked


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("IMG_4032.HEIC", "image/jpeg", "IMG_4032.jpg"),
        ("驾驶证.heic", "image/jpeg", "驾驶证.jpg"),
        ("scan.png", "image/jpeg", "scan.jpg"),
        ("photo.webp", "image/jpeg", "photo.jpg"),
        ("photo.JPEG", "image/jpeg", "photo.JPEG"),  # already right: kept as it is
        ("photo.jpg", "image/jpeg", "photo.jpg"),
        ("tmp_1", "image/jpeg", "tmp_1.jpg"),  # no extension: one is added
        ("report.v2", "image/jpeg", "report.v2.jpg"),  # not a file type: kept, then added
        (".heic", "image/jpeg", ".heic.jpg"),  # a bare dot name is not a stem + extension
        ("诊断证明.PDF", "application/pdf", "诊断证明.PDF"),
        ("诊断证明.jpg", "application/pdf", "诊断证明.pdf"),
        ("export.csv", "text/csv; charset=utf-8", "export.csv"),
        ("anything.bin", "application/octet-stream", "anything.bin"),  # type we do not name
        ("", "image/jpeg", ""),
    ],
)
def test_download_name(name: str, content_type: str, expected: str) -> None:
    assert download_name(name, content_type) == expected


def test_content_disposition_names_the_stored_type() -> None:
    disposition = content_disposition("claims/a/b.jpg", "IMG_4032.HEIC")
    assert disposition == "inline; filename=\"IMG_4032.jpg\"; filename*=UTF-8''IMG_4032.jpg"
    assert content_disposition("claims/a/b.pdf", "x.png").endswith("''x.pdf")
    assert content_disposition("claims/a/b.jpg", None) == "inline"


async def test_the_local_endpoint_serves_a_heic_name_as_jpg(
    local_storage: LocalStorage, files_client: httpx.AsyncClient
) -> None:
    key = "claims/6f1c0d1e/0b6f4a2c.jpg"
    await local_storage.put(key, chunked(b"\xff\xd8\xff jpeg"), "image/jpeg")
    # A link signed with the name as uploaded (what rows stored before the fix hold).
    url = local_storage.signed_url(key, expires_in=60, filename="IMG_4032.HEIC")
    response = await files_client.get(url)
    assert response.status_code == 200
    assert 'filename="IMG_4032.jpg"' in response.headers["content-disposition"]
    assert "HEIC" not in response.headers["content-disposition"]


async def test_an_s3_presigned_link_names_a_heic_upload_jpg(
    s3_storage: S3Storage, http_client: httpx.AsyncClient
) -> None:
    key = "claims/6f1c0d1e/0b6f4a2c.jpg"
    await s3_storage.put(key, chunked(b"\xff\xd8\xff jpeg"), "image/jpeg")
    url = s3_storage.signed_url(key, expires_in=60, filename="IMG_4032.HEIC")
    response = await http_client.get(url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "inline; filename=\"IMG_4032.jpg\"; filename*=UTF-8''IMG_4032.jpg"
    )
