"""Personal data is encrypted at rest, found by keyed hash, shown masked."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from tortoise import connections

from api.services import Services
from models.customers import Customer
from models.pii import PiiCipher, mask_id_number, mask_phone
from tests.factories import make_customer

OLD, NEW = b"o" * 32, b"n" * 32


def test_masks() -> None:
    assert mask_phone("13800000001") == "138****0001"
    assert mask_id_number("110105198503122173") == "110***********2173"


def test_round_trip_and_purpose_binding() -> None:
    cipher = PiiCipher({"k1": OLD}, "k1", b"lookup")
    stored = cipher.encrypt("13800000001", "phone")
    assert stored.startswith("k1:") and "13800000001" not in stored
    assert cipher.decrypt(stored, "phone") == "13800000001"
    assert cipher.encrypt("13800000001", "phone") != stored  # fresh nonce every time
    with pytest.raises(InvalidTag):
        cipher.decrypt(stored, "id_number")  # copied into another column: useless


def test_key_rotation_keeps_old_values_readable() -> None:
    old = PiiCipher({"k1": OLD}, "k1", b"lookup").encrypt("110105198503122173", "id_number")
    rotated = PiiCipher({"k2": NEW, "k1": OLD}, "k2", b"lookup")
    assert rotated.decrypt(old, "id_number") == "110105198503122173"
    assert rotated.encrypt("x", "id_number").startswith("k2:")


def test_lookup_hash_is_keyed() -> None:
    a = PiiCipher({"k1": OLD}, "k1", b"key-a").phone_hash("13800000001")
    b = PiiCipher({"k1": OLD}, "k1", b"key-b").phone_hash("13800000001")
    assert a != b and len(a) == 64


async def test_no_plaintext_in_the_database(services: Services) -> None:
    customer = await make_customer(
        services, phone="13800000009", id_number_value="110105198503122173"
    )
    rows = await connections.get("default").execute_query_dict(
        "SELECT * FROM customer WHERE id = $1"
        if services.settings.database_url.startswith("postgres")
        else "SELECT * FROM customer WHERE id = ?",
        [str(customer.id)],
    )
    dumped = repr(rows)
    assert "13800000009" not in dumped and "110105198503122173" not in dumped
    stored = await Customer.get(id=customer.id)
    assert services.pii.decrypt(stored.phone_encrypted, "phone") == "13800000009"
