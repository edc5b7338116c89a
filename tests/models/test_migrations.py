"""A fresh database migrates to exactly the models' schema (no missing migration)."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiosqlite
import pytest
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.migration import Migration
from tortoise.migrations.schema_generator.state import State
from tortoise.migrations.schema_generator.state_apps import StateApps

from models.claims import Claim, ClaimDocument
from models.config import tortoise_config
from models.database import migrate_database, open_database
from models.migration_state import LazyState
from models.payments import Payout
from models.payout_accounts import PayoutAccount
from models.pii import PiiCipher
from models.policies import Policy
from tests.migration_snapshots import MigrationSnapshots


class Autodetector(MigrationAutodetector):
    """Tortoise's, replaying the migrations into a ``LazyState``: it compares the
    models' descriptions, which the replay builds all the same, and no class (a replay
    that renders them after every operation took most of this test's 35 s)."""

    async def _project_state(self) -> State:
        state = LazyState(models={}, apps=StateApps())
        for key in self._full_plan():
            migration = self.loader.graph.nodes[key]
            assert isinstance(migration, Migration)
            await migration.apply(state, dry_run=True, schema_editor=None)
        return state


async def test_migrations_match_the_models(database_url: str) -> None:
    config = tortoise_config(database_url)
    async with open_database(database_url) as ctx:
        assert ctx.apps is not None
        changes = await Autodetector(ctx.apps, config["apps"]).changes()
        assert changes == [], "models changed without a migration: run makemigrations"
        # The migrated tables are really there and usable.
        assert await Policy.all().count() == 0


async def _claim_made_at(
    sqlite_migrations: MigrationSnapshots, tmp_path: Path, target: str, *, payout: bool = False
) -> str:
    """A database migrated to ``target`` holding one claim (BA1), as that version wrote
    it; with ``payout``, the claim chose an Alipay account and a payout was made to it."""
    url = sqlite_migrations.database_at(target, tmp_path / "upgrade.sqlite3")
    connection = await aiosqlite.connect(tmp_path / "upgrade.sqlite3")
    try:
        ids = [str(uuid.uuid4()) for _ in range(4)]
        now = "2026-11-30 08:00:00+00:00"
        await connection.execute(
            "INSERT INTO customer (id, created_at, name, phone_encrypted, "
            "phone_hash, phone_masked) VALUES (?, ?, '张伟', 'x', 'h', '138****0001')",
            (ids[0], now),
        )
        await connection.execute(
            "INSERT INTO product (id, created_at, code, name, kind, description, "
            "report_time_limit_hours, cooling_off_days, renewable, loss_types) "
            "VALUES (?, ?, 'P', '产品', 'AUTO', '', 48, 0, 1, '[]')",
            (ids[1], now),
        )
        await connection.execute(
            "INSERT INTO policy (id, created_at, number, product_id, holder_id, "
            "status, starts_at, ends_at, issued_at, sum_insured, premium, payment_frequency) "
            "VALUES (?, ?, 'AX1', ?, ?, 'ACTIVE', ?, ?, ?, 1, 1, 'ANNUAL')",
            (ids[2], now, ids[1], ids[0], now, now, now),
        )
        await connection.execute(
            "INSERT INTO claim (id, created_at, report_number, policy_id, "
            "customer_id, loss_type, loss_at, loss_location, description, channel, "
            "contact_name, contact_phone_encrypted, contact_phone_masked, status, version, "
            "late_report, possible_duplicate, fraud_flag, fraud_signals, more_info_items, "
            "approved_amount, pending_approval, paid_amount) VALUES "
            "(?, ?, 'BA1', ?, ?, 'COLLISION', ?, '上海', '碰撞', 'APP', '张伟', 'x', "
            "'138****0001', 'REPORTED', 0, 0, 0, 0, '[]', '[]', 0, 0, 0)",
            (ids[3], now, ids[2], ids[0], now),
        )
        if payout:
            await connection.execute(
                "UPDATE claim SET payout_provider = 'alipay', payout_account = ?",
                ("zhangwei@example.com",),
            )
            await connection.execute(
                "INSERT INTO payout (id, created_at, claim_id, transfer_number, provider, "
                "payee_id, amount, status, reason) VALUES "
                "(?, ?, ?, 'TF1', 'alipay', 'zhangwei@example.com', 100, 'SUCCESS', '')",
                (str(uuid.uuid4()), now, ids[3]),
            )
        await connection.commit()
    finally:
        await connection.close()
    return url


async def test_migrations_run_on_a_database_that_holds_claims(
    sqlite_migrations: MigrationSnapshots, tmp_path: Path
) -> None:
    """New columns are added to tables that already have rows (a NOT NULL column
    without a database default cannot be): a claim made at 0005 survives to the latest."""
    url = await _claim_made_at(sqlite_migrations, tmp_path, "models.0005_staff_team")
    await migrate_database(url)
    async with open_database(url):
        claim = await Claim.get(report_number="BA1")
        assert (claim.insured_person_id, claim.payee_id, claim.person_documents) == (
            None,
            None,
            None,
        )


async def test_payout_accounts_stored_in_clear_are_sealed(
    sqlite_migrations: MigrationSnapshots, tmp_path: Path
) -> None:
    """Accounts an older version stored in clear are sealed by the migration (and it
    refuses to run without the cipher rather than drop or keep them in clear)."""
    url = await _claim_made_at(
        sqlite_migrations, tmp_path, "models.0006_claim_insured_person_and_payee", payout=True
    )
    with pytest.raises(RuntimeError, match="anxin migrate"):
        await migrate_database(url)
    pii = PiiCipher({"k1": b"k" * 32}, "k1", b"lookup")
    await migrate_database(url, pii)
    async with open_database(url):
        claim = await Claim.get(report_number="BA1")
        payout = await Payout.get(transfer_number="TF1")
    assert claim.payout_account_encrypted and payout.payee_encrypted
    for sealed in (claim.payout_account_encrypted, payout.payee_encrypted):
        assert "zhangwei" not in sealed
        assert PayoutAccount.unseal(pii, "alipay", sealed).account == "zhangwei@example.com"
    assert claim.payout_account_masked == payout.payee_masked == "支付宝 zh***@example.com"
    raw = (tmp_path / "upgrade.sqlite3").read_bytes()
    assert b"zhangwei@example.com" not in raw.replace(b"\x00", b"")


async def test_photos_stored_before_the_bands_get_them(
    sqlite_migrations: MigrationSnapshots, tmp_path: Path
) -> None:
    """0028 fills the hash bands of photos already stored, so the upload check finds them."""
    url = await _claim_made_at(sqlite_migrations, tmp_path, "models.0027_members")
    connection = await aiosqlite.connect(tmp_path / "upgrade.sqlite3")
    try:
        await connection.execute(
            "INSERT INTO claim_document (id, created_at, claim_id, checklist_code, "
            "storage_key, content_type, size, sha256, original_sha256, phash, file_name, "
            "uploaded_by_kind) SELECT ?, created_at, id, 'D01', 'k', 'image/jpeg', 1, 's', "
            "'o', '0123456789abcdef', 'a.jpg', 'customer' FROM claim",
            (str(uuid.uuid4()),),
        )
        await connection.commit()
    finally:
        await connection.close()
    await migrate_database(url)
    async with open_database(url):
        document = await ClaimDocument.get(storage_key="k")
    bands = [getattr(document, f"phash_band_{n}") for n in range(4)]
    assert bands == [0x0123, 0x4567, 0x89AB, 0xCDEF]
