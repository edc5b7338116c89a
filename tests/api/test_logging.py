"""Secrets and personal data that reach a log line are redacted, tracebacks included."""

from __future__ import annotations

import logging

from api.logging import RedactingFormatter, redact


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


def test_redacts_url_encoded_values() -> None:
    line = "GET /graphql?query=%7BsearchPolicies(input%3A%7BholderPhone%3A%2213800000001%22%7D"
    line += "%20idNumber%3A%22110105198503122173%22"
    cleaned = redact(line)
    assert "13800000001" not in cleaned and "110105198503122173" not in cleaned


def test_formatter_redacts_messages_and_tracebacks() -> None:
    try:
        raise ValueError("customer 13912345678 failed")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "phone %s", ("13912345678",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    text = RedactingFormatter("%(message)s").format(record)
    assert "13912345678" not in text
    assert text.startswith("phone 139****5678")
    assert "customer 139****5678 failed" in text
