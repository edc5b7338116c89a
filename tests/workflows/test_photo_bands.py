"""The upload's near-duplicate check finds photos by their indexed hash bands: every
photo within NEAR_DUPLICATE_BITS, and not the unrelated ones a scan would read."""

from __future__ import annotations

import random

from api.services import Services
from models.claims import ClaimDocument, ClaimStatus
from storage.images import BAND_BITS, HASH_BANDS, hamming, hash_bands, near_band_values
from tests.factories import make_claim, make_customer, make_policy
from workflows.claim_documents import NEAR_DUPLICATE_BITS, band_columns, near_photos


def flip(phash: str, bits: list[int]) -> str:
    value = int(phash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_every_hash_within_the_limit_shares_a_band_within_one_bit() -> None:
    chance = random.Random(20261203)
    for _ in range(3000):
        photo = f"{chance.getrandbits(64):016x}"
        copy = flip(photo, chance.sample(range(64), chance.randint(0, NEAR_DUPLICATE_BITS)))
        assert any(
            theirs in near_band_values(mine)
            for mine, theirs in zip(hash_bands(photo), hash_bands(copy), strict=True)
        )
    assert HASH_BANDS * BAND_BITS == 64
    assert hash_bands("0123456789abcdef") == (0x0123, 0x4567, 0x89AB, 0xCDEF)


async def test_the_lookup_reads_near_photos_only(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    photo = "f0f0f0f0f0f0f0f0"
    # 2 + 2 + 1 + 1 bits apart, spread over every band: still found.
    near = flip(photo, [63, 62, 47, 46, 31, 15])
    far = flip(photo, [63, 62, 61, 47, 46, 45, 31, 30, 29, 15, 14, 13])  # 3 bits per band
    for name, phash in (("near", near), ("far", far)):
        await ClaimDocument.create(
            claim=claim,
            checklist_code="PHOTO",
            storage_key=f"claims/{claim.id}/{name}.jpg",
            content_type="image/jpeg",
            size=1000,
            sha256=name,
            original_sha256=name,
            phash=phash,
            file_name=f"{name}.jpg",
            uploaded_by_kind="customer",
            **band_columns(phash),
        )
    found = await ClaimDocument.filter(near_photos(photo)).values_list("phash", flat=True)
    assert found == [near]
    assert hamming(near, photo) == NEAR_DUPLICATE_BITS
