"""The CSRF guard of multipart uploads (a preflight header is required) must judge the
same Content-Type the body parser reads: two Content-Type headers (multipart first,
JSON last) slipped a header-less upload past it, because the guard read the last one
and Starlette's parser the first. Several Content-Type headers are refused (400)."""

from __future__ import annotations

import httpx
import pytest

OPERATIONS = '{"query": "{ me { permissions } }", "variables": {}}'
BOUNDARY = "anxin-boundary"


def _multipart() -> bytes:
    parts = [("operations", OPERATIONS), ("map", "{}")]
    body = b""
    for name, value in parts:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    body += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"; filename="a.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nhi\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    return body


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.mark.parametrize(
    "content_types",
    [
        [MULTIPART, "application/json"],
        ["application/json", MULTIPART],
        [MULTIPART, MULTIPART],
    ],
)
async def test_several_content_type_headers_are_refused(
    client: httpx.AsyncClient, content_types: list[str]
) -> None:
    headers = [("content-type", value) for value in content_types]
    response = await client.post("/graphql", content=_multipart(), headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "AMBIGUOUS_CONTENT_TYPE"


@pytest.mark.parametrize(
    "content_type",
    [
        MULTIPART,
        f"Multipart/Form-Data; boundary={BOUNDARY}",
        f"MULTIPART/FORM-DATA;boundary={BOUNDARY}",
        f"  multipart/form-data; boundary={BOUNDARY}",
    ],
)
async def test_multipart_in_any_spelling_needs_the_preflight_header(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/graphql", content=_multipart(), headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"


async def test_one_header_and_the_preflight_pass(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=_multipart(),
        headers={"content-type": MULTIPART, "apollo-require-preflight": "true"},
    )
    assert response.status_code == 200 and response.json() == {"data": {"me": None}}


async def test_callbacks_with_several_content_types_are_refused(client: httpx.AsyncClient) -> None:
    headers = [("content-type", "application/json"), ("content-type", "text/plain")]
    response = await client.post("/payments/sandbox/notify", content=b"{}", headers=headers)
    assert response.status_code == 400
