"""Buying online and renewal (issue 16): the quote form and rating plans of online
products, policy applications, and two policy statuses (AWAITING_PAYMENT, NOT_TAKEN_UP)
for the policy row an accepted application owns before it is paid."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.policies import PolicyStatus
from models.policy_applications import ApplicationKind, ApplicationStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields


class DescribeEnum(ops.AlterField):
    """A new value of a CharEnumField changes only its description in the migration
    state: nothing to alter in the database (a VARCHAR of the same length). Tortoise's
    AlterField rebuilds the table on SQLite (see 0014_conversations)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0019_changes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RatingForm',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('product', fields.OneToOneField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='rating_form', on_delete=OnDelete.CASCADE)),
                ('occupation_factors', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('destination_factors', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('health_questions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('refer_above_sum_insured', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('payment_window_minutes', fields.IntField(default=1440)),
                ('min_start_days', fields.IntField(default=1)),
                ('max_start_days', fields.IntField(default=90)),
            ],
            options={'table': 'rating_form', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The quote form and underwriting rules of one online product.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RatingPlan',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='rating_plans', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('position', fields.IntField(default=0)),
                ('coverages', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('min_age', fields.IntField(default=0)),
                ('max_age', fields.IntField(default=65)),
                ('max_occupation_class', fields.IntField(default=3)),
                ('term_days', fields.IntField(null=True)),
                ('rates', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'rating_plan', 'app': 'models', 'unique_together': (('product', 'code'),), 'pk_attr': 'id', 'table_description': 'One plan of an online product: its coverages and its premium table.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PolicyApplication',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('kind', fields.CharEnumField(description='NEW: NEW\nRENEWAL: RENEWAL', enum_type=ApplicationKind, max_length=16)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='policy_applications', on_delete=OnDelete.RESTRICT)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('plan', fields.ForeignKeyField('models.RatingPlan', source_field='plan_id', null=True, db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.SET_NULL)),
                ('plan_name', fields.CharField(max_length=64)),
                ('status', fields.CharEnumField(db_index=True, description='REFERRED: REFERRED\nACCEPTED: ACCEPTED\nDECLINED: DECLINED\nISSUED: ISSUED\nEXPIRED: EXPIRED', enum_type=ApplicationStatus, max_length=16)),
                ('answers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('insured_relation', fields.CharField(max_length=16)),
                ('insured_name', fields.CharField(max_length=64)),
                ('insured_id_encrypted', fields.TextField(unique=False)),
                ('insured_id_hash', fields.CharField(db_index=True, max_length=64)),
                ('insured_id_masked', fields.CharField(max_length=32)),
                ('insured_birth_date', fields.DateField()),
                ('insured_sex', fields.CharField(max_length=8)),
                ('beneficiaries', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sum_insured', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('premium', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('decision_reason', fields.TextField(default='', unique=False)),
                ('decided_by', fields.UUIDField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('pay_by', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('issued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='applications', on_delete=OnDelete.RESTRICT)),
                ('renewal_of', fields.ForeignKeyField('models.Policy', source_field='renewal_of_id', null=True, db_constraint=True, to_field='id', related_name='renewals', on_delete=OnDelete.RESTRICT)),
                ('renewal_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'policy_application', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's application for a policy (投保单), new or renewal."},
            bases=['Entity'],
        ),
        DescribeEnum(
            model_name='Policy',
            name='status',
            field=fields.CharEnumField(db_index=True, description='PENDING: PENDING\nACTIVE: ACTIVE\nLAPSED: LAPSED\nEXPIRED: EXPIRED\nCANCELLED: CANCELLED\nAWAITING_PAYMENT: AWAITING_PAYMENT\nNOT_TAKEN_UP: NOT_TAKEN_UP', enum_type=PolicyStatus, max_length=16),
        ),
    ]
