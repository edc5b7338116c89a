"""Service commitments (issue 17): the promises, their cases and the outbox events read;
a claim's declared amount and fast-track mark; the work calendar's WEEK entries. The
seeded rows of 0012 the chinese-calendar library now gives the same way are removed
(the library is the source; a row left is an override)."""

from datetime import date
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.commitments import CaseStatus, CommitmentRule
from models.work_calendar import DayKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class DescribeEnum(ops.AlterField):
    """A new value of a CharEnumField changes only its description (see 0014)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


async def _drop_seeded_days(apps: Any, schema_editor: Any) -> None:
    from chinese_calendar import constants as published  # the library, as working_days reads it

    def library_kind(day: date) -> str | None:
        if day in published.workdays:
            return "WORKDAY"
        return "HOLIDAY" if day in published.holidays else None

    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict(
        "SELECT id, day, kind FROM work_calendar_day WHERE set_by_id IS NULL"
    )
    for row in rows:
        day = date.fromisoformat(str(row["day"])[:10])
        kind = library_kind(day)
        if kind is not None and kind == row["kind"]:
            mark = "$1" if postgres else "?"
            await client.execute_query(
                f"DELETE FROM work_calendar_day WHERE id = {mark}", [str(row["id"])]
            )


class Migration(migrations.Migration):
    dependencies = [('models', '0022_risk')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CommitmentEventSeen',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('outbox_event_id', fields.BigIntField(unique=True)),
            ],
            options={'table': 'commitment_event_seen', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An outbox event the evaluator has read (marked after the evaluation, which is'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ServiceCommitment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('rule', fields.CharEnumField(description='CLAIM_DECISION: CLAIM_DECISION\nCLAIM_PAYMENT: CLAIM_PAYMENT\nAGENT_ANSWER: AGENT_ANSWER\nCOMPLAINT_FIRST_RESPONSE: COMPLAINT_FIRST_RESPONSE\nROADSIDE_ARRIVAL: ROADSIDE_ARRIVAL', enum_type=CommitmentRule, max_length=32)),
                ('title', fields.CharField(max_length=64)),
                ('description', fields.TextField(default='', unique=False)),
                ('working_days', fields.IntField(null=True)),
                ('minutes', fields.IntField(null=True)),
                ('max_amount', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('goodwill_points', fields.IntField(default=0)),
                ('recovery', fields.BooleanField(default=True)),
                ('enabled', fields.BooleanField(default=True)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'service_commitment', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CommitmentCase',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('commitment', fields.ForeignKeyField('models.ServiceCommitment', source_field='commitment_id', db_constraint=True, to_field='id', related_name='cases', on_delete=OnDelete.CASCADE)),
                ('subject_type', fields.CharField(max_length=16)),
                ('subject_id', fields.UUIDField(db_index=True)),
                ('customer_id', fields.UUIDField(db_index=True)),
                ('handler_id', fields.UUIDField(null=True)),
                ('status', fields.CharEnumField(default=CaseStatus.PENDING, description='PENDING: PENDING\nKEPT: KEPT\nBROKEN: BROKEN\nWAIVED: WAIVED', enum_type=CaseStatus, max_length=16)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deadline', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('met_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('remedied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'commitment_case', 'app': 'models', 'unique_together': (('commitment_id', 'subject_id'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Claim',
            name='claimed_amount',
            field=fields.DecimalField(null=True, max_digits=14, decimal_places=2),
        ),
        ops.AddField(
            model_name='Claim',
            name='fast_track',
            field=fields.BooleanField(default=False, db_index=True, db_default=False),
        ),
        DescribeEnum(
            model_name='WorkCalendarDay',
            name='kind',
            field=fields.CharEnumField(description='HOLIDAY: HOLIDAY\nWORKDAY: WORKDAY\nWEEK: WEEK', enum_type=DayKind, max_length=16),
        ),
        ops.RunPython(_drop_seeded_days, ops.RunPython.noop),
    ]
