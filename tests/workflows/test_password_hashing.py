"""Tests hash passwords cheaply (the suite would spend most of a minute in argon2);
production keeps argon2's recommended cost."""

from __future__ import annotations

from argon2 import PasswordHasher

from tests.conftest import PRODUCTION_PASSWORD_HASHER
from workflows.auth import _verify_password, hash_password


def test_tests_hash_at_the_lowest_cost() -> None:
    hashed = hash_password("s3cret-pass")
    assert "$m=8,t=1,p=1$" in hashed
    assert _verify_password(hashed, "s3cret-pass")
    assert not _verify_password(hashed, "wrong")


def test_production_hashes_at_argon2s_default_cost() -> None:
    default = PasswordHasher()
    assert (default.time_cost, default.memory_cost) >= (3, 65_536)
    production = PRODUCTION_PASSWORD_HASHER
    assert (production.time_cost, production.memory_cost, production.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
