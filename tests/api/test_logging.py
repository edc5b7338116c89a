"""Secrets and personal data that reach a log line are redacted."""

from __future__ import annotations

import logging

from api.logging import RedactingFilter, redact


def test_redacts_phones_ids_tokens_and_secrets() -> None:
    line = (
        "login 13800000001 id 110105198503122173 Bearer abc.def "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig GET /sns?appid=wx1&secret=s3cr3t&js_code=c0de"
    )
    cleaned = redact(line)
    for secret in (
        "13800000001",
        "110105198503122173",
        "abc.def",
        "eyJhbGciOiJIUzI1NiJ9",
        "s3cr3t",
        "c0de",
    ):
        assert secret not in cleaned
    assert "138****0001" in cleaned and "110105********2173" in cleaned


def test_filter_rewrites_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "phone %s", ("13912345678",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "phone 139****5678"
