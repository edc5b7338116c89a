"""Risk signals (issue 18): rules, signals, their timeline, the events evaluated and the
nightly runs; a keyed hash of the payout account on claims and shares (the same account on
different customers' claims); the RETENTION_RISK visit trigger."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.risk import RiskRuleKind, RiskSeverity, RiskSignalStatus, RiskSubjectKind
from models.visits import VisitTrigger
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class DescribeEnum(ops.AlterField):
    """A new value of a CharEnumField changes only its description in the migration
    state: nothing to alter in the database (a VARCHAR of the same length); Tortoise's
    AlterField would rebuild the table on SQLite (see 0014)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0021_membership')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RiskEventSeen',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('outbox_event_id', fields.BigIntField(unique=True)),
            ],
            options={'table': 'risk_event_seen', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An outbox event the rules have evaluated (evaluating again is harmless).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RiskRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='EARLY_CLAIM: EARLY_CLAIM\nFREQUENT_CLAIMS: FREQUENT_CLAIMS\nFREQUENT_INSURED_CLAIMS: FREQUENT_INSURED_CLAIMS\nREUSED_PHOTO: REUSED_PHOTO\nSHARED_PAYOUT_ACCOUNT: SHARED_PAYOUT_ACCOUNT\nLOSS_TYPE_SPIKE: LOSS_TYPE_SPIKE\nRETENTION_RISK: RETENTION_RISK\nUNHAPPY_OPEN_CLAIM: UNHAPPY_OPEN_CLAIM', enum_type=RiskRuleKind, max_length=32)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH', enum_type=RiskSeverity, max_length=16)),
                ('threshold', fields.IntField()),
                ('minimum', fields.IntField(default=1)),
                ('window_days', fields.IntField()),
                ('enabled', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
                ('updated_by', fields.UUIDField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'risk_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A rule as data: staff change thresholds and windows, or switch it off.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RiskSignal',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('rule', fields.ForeignKeyField('models.RiskRule', source_field='rule_id', db_constraint=True, to_field='id', related_name='signals', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharEnumField(db_index=True, description='EARLY_CLAIM: EARLY_CLAIM\nFREQUENT_CLAIMS: FREQUENT_CLAIMS\nFREQUENT_INSURED_CLAIMS: FREQUENT_INSURED_CLAIMS\nREUSED_PHOTO: REUSED_PHOTO\nSHARED_PAYOUT_ACCOUNT: SHARED_PAYOUT_ACCOUNT\nLOSS_TYPE_SPIKE: LOSS_TYPE_SPIKE\nRETENTION_RISK: RETENTION_RISK\nUNHAPPY_OPEN_CLAIM: UNHAPPY_OPEN_CLAIM', enum_type=RiskRuleKind, max_length=32)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH', enum_type=RiskSeverity, max_length=16)),
                ('status', fields.CharEnumField(db_index=True, description='NEW: NEW\nREVIEWING: REVIEWING\nDISMISSED: DISMISSED\nCONFIRMED: CONFIRMED', enum_type=RiskSignalStatus, max_length=16)),
                ('subject_kind', fields.CharEnumField(description='CLAIM: CLAIM\nCUSTOMER: CUSTOMER\nINSURED_PERSON: INSURED_PERSON\nPAYOUT_ACCOUNT: PAYOUT_ACCOUNT\nPHOTO: PHOTO\nPOLICY: POLICY\nLOSS_TYPE: LOSS_TYPE', enum_type=RiskSubjectKind, max_length=16)),
                ('subject_key', fields.CharField(max_length=96)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='risk_signals', on_delete=OnDelete.SET_NULL)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=160)),
                ('evidence_key', fields.CharField(max_length=64)),
                ('summary', fields.CharField(max_length=255)),
                ('evidence', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('first_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('reviewer_id', fields.UUIDField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decision_note', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'risk_signal', 'app': 'models', 'unique_together': (('rule', 'subject_key', 'evidence_key'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RiskSignalEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('signal', fields.ForeignKeyField('models.RiskSignal', source_field='signal_id', db_index=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor_id', fields.UUIDField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('from_status', fields.CharEnumField(null=True, description='NEW: NEW\nREVIEWING: REVIEWING\nDISMISSED: DISMISSED\nCONFIRMED: CONFIRMED', enum_type=RiskSignalStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='NEW: NEW\nREVIEWING: REVIEWING\nDISMISSED: DISMISSED\nCONFIRMED: CONFIRMED', enum_type=RiskSignalStatus, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'risk_signal_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "The signal's timeline: opened, evidence added, review started, decided."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RiskSweep',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('day', fields.DateField(unique=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('signals_opened', fields.IntField(default=0)),
                ('seconds', fields.FloatField(null=True)),
            ],
            options={'table': 'risk_sweep', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The nightly evaluation of every rule over all data: one row per local day, so one'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Claim',
            name='payout_account_hash',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        DescribeEnum(
            model_name='FollowUpVisit',
            name='trigger',
            field=fields.CharEnumField(description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK\nNEW_POLICY_INTEREST: NEW_POLICY_INTEREST\nRETENTION_RISK: RETENTION_RISK', enum_type=VisitTrigger, max_length=24),
        ),
        ops.AddField(
            model_name='PayoutShare',
            name='payout_account_hash',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        DescribeEnum(
            model_name='VisitRule',
            name='trigger',
            field=fields.CharEnumField(unique=True, description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK\nNEW_POLICY_INTEREST: NEW_POLICY_INTEREST\nRETENTION_RISK: RETENTION_RISK', enum_type=VisitTrigger, max_length=24),
        ),
    ]
