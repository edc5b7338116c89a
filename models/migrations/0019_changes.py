"""Changes to a policy (issue 16, 保全): endorsements and their timeline, the products'
service terms; an installment may pay for an endorsement; a payout may pay a surrender
(``payout.claim`` becomes nullable, ``payout.endorsement`` is added)."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from decimal import Decimal
from json import dumps, loads
from models.endorsements import EndorsementStatus, EndorsementType
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class ClaimOptional(ops.AlterField):
    """``payout.claim_id`` loses NOT NULL, and nothing else changes. Tortoise's AlterField
    rebuilds the table on SQLite and dropped its unique constraints (see DescribeEnum in
    0014): the unique ``live_key`` and ``transfer_number`` are what make a payout pay once.
    PostgreSQL drops the constraint in place; SQLite gets the same table rebuilt from its
    own stored definition, with every index it had."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None:
            return
        client = state_editor.client
        if state_editor.DIALECT != "sqlite":
            await client.execute_script('ALTER TABLE "payout" ALTER COLUMN "claim_id" DROP NOT NULL')
            return
        _, rows = await client.execute_query(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'payout' AND sql IS NOT NULL"
        )
        rows = [dict(row) for row in rows]
        table_sql = next(row["sql"] for row in rows if row["type"] == "table")
        indexes = [row["sql"] for row in rows if row["type"] == "index"]
        new_sql = table_sql.replace('"claim_id" CHAR(36) NOT NULL', '"claim_id" CHAR(36)')
        if new_sql == table_sql:
            raise RuntimeError("payout.claim_id: unexpected column definition")
        new_sql = new_sql.replace('"payout"', '"payout_new"', 1)
        await client.execute_script(new_sql)
        await client.execute_script('INSERT INTO "payout_new" SELECT * FROM "payout"')
        await client.execute_script('DROP TABLE "payout"')
        await client.execute_script('ALTER TABLE "payout_new" RENAME TO "payout"')
        for index in indexes:
            await client.execute_script(index)

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a surrender payout has no claim: not reversible")


class Migration(migrations.Migration):
    dependencies = [('models', '0018_docs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Endorsement',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_index=True, db_constraint=True, to_field='id', related_name='endorsements', on_delete=OnDelete.RESTRICT)),
                ('type', fields.CharEnumField(description='BENEFICIARIES: BENEFICIARIES\nSURRENDER: SURRENDER\nCONTACT: CONTACT\nPAYMENT_FREQUENCY: PAYMENT_FREQUENCY\nREINSTATEMENT: REINSTATEMENT\nINSURED_MEMBER: INSURED_MEMBER', enum_type=EndorsementType, max_length=24)),
                ('status', fields.CharEnumField(db_index=True, description='REQUESTED: REQUESTED\nNEEDS_REVIEW: NEEDS_REVIEW\nAPPROVED: APPROVED\nEFFECTIVE: EFFECTIVE\nREJECTED: REJECTED\nCANCELLED: CANCELLED', enum_type=EndorsementStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('requested_by', fields.ForeignKeyField('models.Customer', source_field='requested_by_id', db_index=True, db_constraint=True, to_field='id', related_name='endorsements', on_delete=OnDelete.RESTRICT)),
                ('before', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('after', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sealed_after', fields.TextField(null=True, unique=False)),
                ('amount', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('consent_required', fields.BooleanField(default=False)),
                ('consented_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('consented_by', fields.UUIDField(null=True)),
                ('reviewed_by', fields.UUIDField(null=True)),
                ('reason', fields.TextField(default='', unique=False)),
                ('effective_date', fields.DateField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('effective_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'endorsement', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='EndorsementEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('endorsement', fields.ForeignKeyField('models.Endorsement', source_field='endorsement_id', db_index=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.UUIDField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('from_status', fields.CharEnumField(null=True, description='REQUESTED: REQUESTED\nNEEDS_REVIEW: NEEDS_REVIEW\nAPPROVED: APPROVED\nEFFECTIVE: EFFECTIVE\nREJECTED: REJECTED\nCANCELLED: CANCELLED', enum_type=EndorsementStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='REQUESTED: REQUESTED\nNEEDS_REVIEW: NEEDS_REVIEW\nAPPROVED: APPROVED\nEFFECTIVE: EFFECTIVE\nREJECTED: REJECTED\nCANCELLED: CANCELLED', enum_type=EndorsementStatus, max_length=16)),
                ('note', fields.TextField(unique=False)),
            ],
            options={'table': 'endorsement_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One line of an endorsement's timeline."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ProductServiceTerms',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('product', fields.OneToOneField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='service_terms', on_delete=OnDelete.CASCADE)),
                ('surrender_values', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reinstatement_days', fields.IntField(default=730)),
                ('reinstatement_interest_rate', fields.DecimalField(default=Decimal('0.0350'), max_digits=6, decimal_places=4)),
                ('sum_insured_min', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('sum_insured_max', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('member_premium', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
            ],
            options={'table': 'product_service_terms', 'app': 'models', 'pk_attr': 'id', 'table_description': "What the changes of a product's policies read."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CustomerAddress',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.OneToOneField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='address', on_delete=OnDelete.CASCADE)),
                ('address_encrypted', fields.TextField(unique=False)),
                ('address_masked', fields.CharField(max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'customer_address', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's postal address for letters about their policies (联系地址), sealed"},
            bases=['Entity'],
        ),
        ops.AlterModelOptions(
            name='Payout',
            options={'table': 'payout', 'app': 'models', 'pk_attr': 'id', 'table_description': "A payout made by the gateway: a claim's money, or a surrender value (``claim`` null,"},
        ),
        ClaimOptional(
            model_name='Payout',
            name='claim',
            field=fields.ForeignKeyField('models.Claim', source_field='claim_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Payout',
            name='endorsement',
            field=fields.ForeignKeyField('models.Endorsement', source_field='endorsement_id', null=True, db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='PremiumInstallment',
            name='endorsement',
            field=fields.ForeignKeyField('models.Endorsement', source_field='endorsement_id', null=True, db_constraint=True, to_field='id', related_name='installments', on_delete=OnDelete.RESTRICT),
        ),
    ]
