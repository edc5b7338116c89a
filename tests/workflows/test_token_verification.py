"""Access tokens are verified once per (secret, token) and remembered (issue 19: PyJWT's
verification cost more than the rest of a request's authentication); expiry is still
checked on every use, and a token signed with another secret is still refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest

from api.services import Services
from workflows import auth


def _token(services: Services, lifetime: timedelta) -> str:
    claims = {"typ": "access", "sub": "someone", "knd": "CUSTOMER", "sid": "s"}
    return auth._encode(services, claims, lifetime)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = jwt.decode

    def decode(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", decode)
    return calls


def test_a_token_is_verified_once(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    token = _token(services, timedelta(minutes=5))
    first = auth._decode(services, token, "access")
    second = auth._decode(services, token, "access")
    assert first is not None and first == second and first is not second
    assert calls == [token]
    assert auth._decode(services, token, "refresh") is None  # the type is still checked


def test_an_expired_token_is_refused_after_it_was_verified(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _token(services, timedelta(seconds=30))
    assert auth._decode(services, token, "access") is not None

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + timedelta(seconds=31)

    monkeypatch.setattr(auth, "datetime", Later)
    assert auth._decode(services, token, "access") is None
    monkeypatch.undo()
    assert auth._decode(services, token, "access") is not None  # verified afresh


def test_another_secret_verifies_afresh(services: Services) -> None:
    token = _token(services, timedelta(minutes=5))
    assert auth._decode(services, token, "access") is not None
    other = services.settings.model_copy(
        update={"secret_key": type(services.settings.secret_key)("another secret" * 4)}
    )
    elsewhere: Any = type("Deps", (), {"settings": other})()
    assert auth._decode(elsewhere, token, "access") is None
    assert auth._decode(services, token + "x", "access") is None
