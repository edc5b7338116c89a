"""Payout accounts are sealed like other personal data (a claim's chosen account and
each payout's receiving account were stored in clear), and a claim paid to beneficiaries
has one payout share per beneficiary. Accounts stored before are sealed here with the
cipher ``migrate_database`` is given."""

from decimal import Decimal
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class DropColumn(ops.RemoveField):
    """RemoveField with ``ALTER TABLE … DROP COLUMN``: SQLite's table rebuild drops the
    claim table, which payouts and timelines reference (a foreign-key failure)."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor:
            model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor.client.execute_script(
                f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{self.name}"'
            )


async def _seal_accounts(apps: Any, schema_editor: Any) -> None:
    from models.payout_accounts import PayoutAccount
    from models.pii import MIGRATION_CIPHER

    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    a, b, c = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
    claims = await client.execute_query_dict(
        "SELECT id, payout_provider, payout_account FROM claim WHERE payout_account IS NOT NULL"
    )
    payouts = await client.execute_query_dict(
        "SELECT id, provider, payee_id FROM payout"
    )
    pii = MIGRATION_CIPHER.get()
    if (claims or payouts) and pii is None:
        raise RuntimeError("payout accounts to seal: migrate with `anxin migrate`")
    for row in claims:
        account = PayoutAccount(row["payout_provider"] or "", row["payout_account"])
        await client.execute_query(
            f"UPDATE claim SET payout_account_encrypted = {a}, payout_account_masked = {b} "
            f"WHERE id = {c}",
            [account.seal(pii), account.masked, str(row["id"])],
        )
    for row in payouts:
        account = PayoutAccount(row["provider"], row["payee_id"])
        await client.execute_query(
            f"UPDATE payout SET payee_encrypted = {a}, payee_masked = {b} WHERE id = {c}",
            [account.seal(pii), account.masked, str(row["id"])],
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0006_claim_insured_person_and_payee')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PayoutShare',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', db_index=True, db_constraint=True, to_field='id', related_name='shares', on_delete=OnDelete.CASCADE)),
                ('beneficiary', fields.ForeignKeyField('models.Beneficiary', source_field='beneficiary_id', null=True, db_constraint=True, to_field='id', related_name='claim_shares', on_delete=OnDelete.SET_NULL)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='claim_shares', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=64)),
                ('share_percent', fields.DecimalField(max_digits=5, decimal_places=2)),
                ('position', fields.IntField()),
                ('amount', fields.DecimalField(default=Decimal(0), max_digits=14, decimal_places=2)),
                ('payout_provider', fields.CharField(null=True, max_length=16)),
                ('payout_account_encrypted', fields.TextField(null=True, unique=False)),
                ('payout_account_masked', fields.CharField(null=True, max_length=64)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payout_share', 'app': 'models', 'unique_together': (('claim', 'position'), ('claim', 'customer')), 'pk_attr': 'id', 'table_description': "One beneficiary's share of a claim paid to beneficiaries (a death benefit): the"},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Claim',
            name='pays_shares',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Claim',
            name='payout_account_encrypted',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Claim',
            name='payout_account_masked',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payout',
            name='payee_encrypted',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='payee_masked',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payout',
            name='share',
            field=fields.ForeignKeyField('models.PayoutShare', source_field='share_id', null=True, db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunPython(_seal_accounts, ops.RunPython.noop),
        DropColumn(model_name='Claim', name='payout_account'),
        DropColumn(model_name='Payout', name='payee_id'),
        ops.AlterField(
            model_name='Payout',
            name='payee_encrypted',
            field=fields.TextField(unique=False),
        ),
        ops.AlterField(
            model_name='Payout',
            name='payee_masked',
            field=fields.CharField(max_length=64),
        ),
    ]
