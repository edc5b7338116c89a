"""Membership and health management (issue 17): the tier rules document, rewards and
redemptions, the events the membership consumer handled, health programmes, tasks and
completions; a dedicated agent on the membership; PointsKind.REVERSED."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.membership import HealthPeriod, MemberTier, PointsKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class DescribeEnum(ops.AlterField):
    """PointsKind.REVERSED changes only the field's description in the migration state:
    nothing to alter in the database (a VARCHAR of the same length). Tortoise's AlterField
    rebuilds the table on SQLite, which would drop points_entry's unique (customer,
    source) — one credit per source event rests on it (as in 0014)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0026_acct')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HealthProgramme',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=300)),
                ('active', fields.BooleanField(default=True)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'health_programme', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A health-management programme (每日步数, 体检后随访) with tasks that earn points.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='HealthTask',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('programme', fields.ForeignKeyField('models.HealthProgramme', source_field='programme_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=300)),
                ('period', fields.CharEnumField(description='DAILY: DAILY\nWEEKLY: WEEKLY\nONCE: ONCE', enum_type=HealthPeriod, max_length=8)),
                ('points', fields.IntField()),
                ('value_label', fields.CharField(null=True, max_length=16)),
                ('min_value', fields.IntField(null=True)),
                ('max_value', fields.IntField(null=True)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'health_task', 'app': 'models', 'unique_together': (('programme', 'code'),), 'pk_attr': 'id', 'table_description': 'One task of a programme: done once per period, declared by the customer.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='HealthTaskCompletion',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='health_completions', on_delete=OnDelete.CASCADE)),
                ('task', fields.ForeignKeyField('models.HealthTask', source_field='task_id', db_constraint=True, to_field='id', related_name='completions', on_delete=OnDelete.CASCADE)),
                ('period_key', fields.CharField(max_length=16)),
                ('value', fields.IntField(null=True)),
                ('points', fields.IntField()),
            ],
            options={'table': 'health_task_completion', 'app': 'models', 'unique_together': (('customer', 'task', 'period_key'),), 'pk_attr': 'id', 'table_description': "The customer's own declaration that a task is done for a period (never device"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='MembershipEventSeen',
            fields=[
                ('outbox_event_id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'membership_event_seen', 'app': 'models', 'pk_attr': 'outbox_event_id', 'table_description': 'An outbox event the membership consumer has handled (points, recompute).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MembershipRuleSet',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('document', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('version', fields.IntField(default=1)),
                ('updated_by', fields.UUIDField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'membership_rule_set', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The tier rules as one document staff change (MEMBERSHIP_MANAGE): thresholds per'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Reward',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.CharField(default='', max_length=200)),
                ('points_cost', fields.IntField()),
                ('min_tier', fields.CharEnumField(default=MemberTier.STANDARD, description='STANDARD: STANDARD\nSILVER: SILVER\nGOLD: GOLD\nPLATINUM: PLATINUM', enum_type=MemberTier, max_length=16)),
                ('per_year', fields.IntField()),
                ('active', fields.BooleanField(default=True)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'membership_reward', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What points buy (体检券, 洗车券 …): a small catalogue as data.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Redemption',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.CASCADE)),
                ('reward', fields.ForeignKeyField('models.Reward', source_field='reward_id', db_constraint=True, to_field='id', related_name='redemptions', on_delete=OnDelete.RESTRICT)),
                ('points', fields.IntField()),
                ('year', fields.IntField()),
                ('voucher_code', fields.CharField(unique=True, max_length=24)),
                ('idempotency_key', fields.CharField(max_length=128)),
            ],
            options={'table': 'membership_redemption', 'app': 'models', 'unique_together': (('customer', 'idempotency_key'),), 'pk_attr': 'id', 'table_description': 'Points spent on a reward: written with its REDEEMED ledger entry under the'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Membership',
            name='dedicated_agent',
            field=fields.ForeignKeyField('models.StaffUser', source_field='dedicated_agent_id', null=True, db_constraint=True, to_field='id', related_name='dedicated_members', on_delete=OnDelete.SET_NULL),
        ),
        DescribeEnum(
            model_name='PointsEntry',
            name='kind',
            field=fields.CharEnumField(description='EARNED: EARNED\nGOODWILL: GOODWILL\nREDEEMED: REDEEMED\nEXPIRED: EXPIRED\nREVERSED: REVERSED', enum_type=PointsKind, max_length=16),
        ),
    ]
