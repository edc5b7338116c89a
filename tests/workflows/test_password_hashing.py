"""Tests hash passwords cheaply (the suite would spend most of a minute in argon2);
production keeps argon2's recommended cost. The cost is a setting, applied when the
services are built; production refuses one below OWASP's minimum."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from api.settings import Settings
from api.settings.security import SecuritySettings
from workflows import auth
from workflows.auth import _verify_password, hash_password


def test_tests_hash_at_the_lowest_cost() -> None:
    hashed = hash_password("s3cret-pass")
    assert "$m=8,t=1,p=1$" in hashed
    assert _verify_password(hashed, "s3cret-pass")
    assert not _verify_password(hashed, "wrong")


def test_production_hashes_at_argon2s_default_cost() -> None:
    default = PasswordHasher()
    assert (default.time_cost, default.memory_cost) >= (3, 65_536)
    fields = SecuritySettings.model_fields
    assert (
        fields["password_hash_time_cost"].default,
        fields["password_hash_memory_kib"].default,
        fields["password_hash_parallelism"].default,
    ) == (default.time_cost, default.memory_cost, default.parallelism)


def test_the_settings_cost_is_the_one_used_and_old_hashes_still_verify() -> None:
    old = hash_password("s3cret-pass")
    production = auth.password_hasher
    try:
        auth.configure_password_hashing(2, 16, 1)
        assert "$m=16,t=2,p=1$" in hash_password("s3cret-pass")
        assert _verify_password(old, "s3cret-pass")
        assert auth.password_hasher.check_needs_rehash(old)
        assert auth._dummy_hash().startswith("$argon2id$v=19$m=16,t=2,p=1$")
    finally:
        auth.password_hasher = production


def test_production_refuses_a_cost_below_owasps_minimum() -> None:
    secrets = {
        "env": "production",
        "secret_key": "s" * 40,
        "lookup_key": "l" * 40,
        "database_url": "postgres://db/anxin",
    }
    with pytest.raises(ValueError, match="ANXIN_PASSWORD_HASH_"):
        Settings(**secrets, password_hash_memory_kib=8, password_hash_time_cost=1)
