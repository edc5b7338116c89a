"""PII key rotation (``anxin rotate-pii-key``): every sealed value re-encrypted to the
current key id, in batches, while the API serves.

The key ring keeps the old keys (``ANXIN_PII_KEYS``: the first encrypts, all decrypt),
so a value not yet rewrapped stays readable; once the rotation has finished, the old
key may leave the ring. Each batch is written with a compare-and-set on the old value
(a value the API changed meanwhile was sealed with the current key already, and is
left alone), and the cursor (``PiiKeyRotation``: which column, after which row) is
saved after each batch, so a stopped run resumes where it was.

``TARGETS`` lists every sealed column; ``tests/workflows/test_privacy_rotation.py``
fails when a model gains a sealed column this list does not name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from models.claims import Claim, PayoutShare
from models.customers import Customer
from models.endorsements import CustomerAddress, Endorsement
from models.payments import Payout
from models.pii import PiiCipher
from models.policies import Beneficiary, InsuredPerson
from models.policy_accounts import PolicyAccount
from models.policy_applications import PolicyApplication
from models.policy_documents import InvoiceRequest
from models.privacy import PiiKeyRotation
from workflows.claims import retention as claim_retention

log = logging.getLogger("anxin.security")
# Every purpose a value is sealed for (bound in as associated data).
PURPOSES = ("phone", "id_number", "email", "address", "endorsement", "payout_account")
DEFAULT_BATCH = 500


@dataclass(frozen=True)
class Target:
    model: type[Model]
    column: str
    structured: bool = False  # a JSON field holding sealed values inside
    # Who writes the rows (claims: only the claims workflow); None: a plain update.
    write: Callable[[Any, str, str, str], Awaitable[int]] | None = None

    @property
    def name(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"


TARGETS: tuple[Target, ...] = (
    Target(Customer, "phone_encrypted"),
    Target(Customer, "id_number_encrypted"),
    Target(Customer, "email_encrypted"),
    Target(Claim, "contact_phone_encrypted", write=claim_retention.rewrap_sealed),
    Target(Claim, "payout_account_encrypted", write=claim_retention.rewrap_sealed),
    Target(PayoutShare, "payout_account_encrypted"),
    Target(Payout, "payee_encrypted"),
    Target(InsuredPerson, "id_number_encrypted"),
    Target(Beneficiary, "id_number_encrypted"),
    Target(PolicyAccount, "payout_encrypted"),
    Target(PolicyApplication, "insured_id_encrypted"),
    Target(PolicyApplication, "beneficiaries", structured=True),
    Target(InvoiceRequest, "email_encrypted"),
    Target(CustomerAddress, "address_encrypted"),
    # Sealed, or JSON text with sealed values inside (a new member's row).
    Target(Endorsement, "sealed_after"),
)


@dataclass
class RotationReport:
    key_id: str
    rewrapped: int = 0
    batches: int = 0
    finished: bool = False


def rewrap_value(pii: PiiCipher, value: Any) -> tuple[Any, bool]:
    """``value`` with every sealed string in it under the current key; and whether
    anything changed. Strings that are JSON are opened and walked (text columns that
    hold JSON with sealed values inside)."""
    if isinstance(value, str):
        if pii.key_id(value) is not None:
            new = pii.rewrap(value, PURPOSES)
            return (new, True) if new is not None else (value, False)
        if value[:1] in ("{", "["):
            try:
                inner = json.loads(value)
            except ValueError:
                return value, False
            walked, changed = rewrap_value(pii, inner)
            return (json.dumps(walked, ensure_ascii=False), True) if changed else (value, False)
        return value, False
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            out[key], moved = rewrap_value(pii, item)
            changed = changed or moved
        return out, changed
    if isinstance(value, list):
        pairs = [rewrap_value(pii, item) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


async def _rewrap_rows(pii: PiiCipher, target: Target, rows: list[dict[str, Any]]) -> int:
    done = 0
    for row in rows:
        old = row[target.column]
        new, changed = rewrap_value(pii, old)
        if not changed:
            continue
        if target.structured:
            done += await _rewrap_locked(pii, target, row["id"])
            continue
        if target.write is not None:
            done += await target.write(row["id"], target.column, old, new)
            continue
        # Compare-and-set: a value changed meanwhile was sealed with the current key.
        done += await target.model.filter(id=row["id"], **{target.column: old}).update(
            **{target.column: new}
        )
    return done


async def _rewrap_locked(pii: PiiCipher, target: Target, row_id: Any) -> int:
    """A JSON field: read it locked, rewrap, write (no compare on JSON text)."""
    async with in_transaction():
        rows = await target.model.filter(id=row_id).select_for_update().values("id", target.column)
        if not rows:
            return 0
        new, changed = rewrap_value(pii, rows[0][target.column])
        if changed:
            await target.model.filter(id=row_id).update(**{target.column: new})
        return int(changed)


async def rotate(
    pii: PiiCipher,
    *,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Rewrap every sealed value to ``pii``'s current key, resuming a stopped run;
    ``max_batches`` stops early (the cursor is kept: the next call goes on)."""
    key = pii.current_key_id
    state, _ = await PiiKeyRotation.get_or_create(key_id=key)
    if state.finished_at is not None:  # run again: a check pass that finds what is left
        state.target_index, state.last_id, state.finished_at = 0, None, None
        await state.save()
    report = RotationReport(key)
    while state.target_index < len(TARGETS):
        target = TARGETS[state.target_index]
        rows = target.model.all().order_by("id").limit(batch_size)
        if state.last_id is not None:
            rows = rows.filter(id__gt=state.last_id)
        batch = await rows.values("id", target.column)
        if not batch:
            state.target_index, state.last_id = state.target_index + 1, None
            await state.save(update_fields=["target_index", "last_id", "updated_at"])
            continue
        done = await _rewrap_rows(pii, target, batch)
        state.last_id = str(batch[-1]["id"])
        state.rewrapped += done
        await state.save(update_fields=["last_id", "rewrapped", "updated_at"])
        report.rewrapped += done
        report.batches += 1
        if progress is not None:
            progress(target.name, done)
        if max_batches is not None and report.batches >= max_batches:
            return report
    state.finished_at = datetime.now(UTC)
    await state.save(update_fields=["finished_at", "updated_at"])
    report.finished = True
    log.info("PII key rotation to %s finished: %d values rewrapped", key, state.rewrapped)
    return report


async def values_under_other_keys(pii: PiiCipher) -> int:
    """How many sealed values are still under another key than the current one (read
    after a rotation, before an old key leaves the ring)."""
    left = 0
    for target in TARGETS:
        for row in await target.model.all().values(target.column):
            left += _count_old(pii, row[target.column])
    return left


def _count_old(pii: PiiCipher, value: Any) -> int:
    if isinstance(value, str):
        kid = pii.key_id(value)
        if kid is not None:
            return int(kid != pii.current_key_id)
        if value[:1] in ("{", "["):
            try:
                return _count_old(pii, json.loads(value))
            except ValueError:
                return 0
        return 0
    if isinstance(value, dict):
        return sum(_count_old(pii, v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_old(pii, v) for v in value)
    return 0
