"""Online customer service (issue 15): conversations with the assistant and agents, their
numbered messages, agents' presence; callbacks asked for outside agents' hours join the
visit list (VisitTrigger.CALLBACK)."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.conversations import ConversationChannel, ConversationStatus, MessageAuthor, PresenceStatus
from models.visits import VisitTrigger
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class DescribeEnum(ops.AlterField):
    """A new value of a CharEnumField changes only its description in the migration
    state: nothing to alter in the database (a VARCHAR of the same length). Tortoise's
    AlterField rebuilds the table on SQLite, which dropped follow_up_visit's unique
    (trigger, subject) — one call back per conversation rests on it."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0013_knowledge_base')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AgentPresence',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff', fields.OneToOneField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='presence', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=PresenceStatus.AWAY, description='AVAILABLE: AVAILABLE\nBUSY: BUSY\nAWAY: AWAY', enum_type=PresenceStatus, max_length=16)),
                ('max_concurrent', fields.IntField(default=3)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'agent_presence', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Conversation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_index=True, db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='APP: APP\nMINI_PROGRAM: MINI_PROGRAM', enum_type=ConversationChannel, max_length=16)),
                ('status', fields.CharEnumField(db_index=True, description='BOT: BOT\nWAITING: WAITING\nWITH_AGENT: WITH_AGENT\nCLOSED: CLOSED', enum_type=ConversationStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('intent', fields.CharField(null=True, max_length=64)),
                ('handoff_reason', fields.CharField(null=True, max_length=32)),
                ('summary', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('queued_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('agent', fields.ForeignKeyField('models.StaffUser', source_field='agent_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='conversations', on_delete=OnDelete.SET_NULL)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('callback', fields.ForeignKeyField('models.FollowUpVisit', source_field='callback_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('last_seq', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'conversation', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ConversationMessage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('conversation', fields.ForeignKeyField('models.Conversation', source_field='conversation_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('seq', fields.IntField()),
                ('author', fields.CharEnumField(description='CUSTOMER: CUSTOMER\nASSISTANT: ASSISTANT\nAGENT: AGENT\nSYSTEM: SYSTEM', enum_type=MessageAuthor, max_length=16)),
                ('agent', fields.ForeignKeyField('models.StaffUser', source_field='agent_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('text', fields.TextField(unique=False)),
                ('attachments', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('intent', fields.CharField(null=True, max_length=64)),
                ('confidence', fields.FloatField(null=True)),
                ('citations', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('handoff', fields.CharField(null=True, max_length=32)),
                ('proposed_entry_id', fields.UUIDField(null=True)),
                ('answer_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'conversation_message', 'app': 'models', 'unique_together': (('conversation', 'seq'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        DescribeEnum(
            model_name='FollowUpVisit',
            name='trigger',
            field=fields.CharEnumField(description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK', enum_type=VisitTrigger, max_length=24),
        ),
        DescribeEnum(
            model_name='VisitRule',
            name='trigger',
            field=fields.CharEnumField(unique=True, description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK', enum_type=VisitTrigger, max_length=24),
        ),
    ]
