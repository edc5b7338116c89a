"""Crisis response (issue 14, 危机应对预案): the rules that open incidents, incidents
with their timeline, team, actions, statements and review, the complaint outbox events
the rules have evaluated, and a nullable ``complaint.incident_id`` (rows written before
belong to no incident). ``crisis_incident.open_key`` is unique: one open incident per
rule and key."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.crisis import CrisisRuleKind, CrisisScope, CrisisSeverity, CrisisStatus, CrisisTeamRole, SpreadRisk, StatementAudience, StatementStatus
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_wechat_money_path')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CrisisEventSeen',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('outbox_event_id', fields.BigIntField(unique=True)),
            ],
            options={'table': 'crisis_event_seen', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A complaint outbox event the rules have evaluated (marked after the evaluation,'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='MAJOR_COMPLAINT: MAJOR_COMPLAINT\nCLASS_SPIKE: CLASS_SPIKE\nPRODUCT_SPIKE: PRODUCT_SPIKE\nKEYWORDS: KEYWORDS', enum_type=CrisisRuleKind, max_length=24)),
                ('threshold', fields.IntField(default=1)),
                ('window_hours', fields.IntField(default=24)),
                ('keywords', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL', enum_type=CrisisSeverity, max_length=16)),
                ('enabled', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
                ('updated_by', fields.UUIDField(null=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'crisis_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'When an incident opens by itself. Staff with CRISIS_MANAGE edit them.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisIncident',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('title', fields.CharField(max_length=128)),
                ('status', fields.CharEnumField(db_index=True, description='IDENTIFIED: IDENTIFIED\nASSESSED: ASSESSED\nRESPONDING: RESPONDING\nCOMMUNICATING: COMMUNICATING\nREVIEWING: REVIEWING\nCLOSED: CLOSED', enum_type=CrisisStatus, max_length=16)),
                ('version', fields.IntField(default=1)),
                ('rule', fields.ForeignKeyField('models.CrisisRule', source_field='rule_id', null=True, db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.RESTRICT)),
                ('rule_key', fields.CharField(null=True, max_length=64)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=128)),
                ('opened_by', fields.UUIDField(null=True)),
                ('opened_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('severity', fields.CharEnumField(description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH\nCRITICAL: CRITICAL', enum_type=CrisisSeverity, max_length=16)),
                ('spread_risk', fields.CharEnumField(null=True, description='LOW: LOW\nMEDIUM: MEDIUM\nHIGH: HIGH', enum_type=SpreadRisk, max_length=16)),
                ('scope', fields.CharEnumField(null=True, description='COMPLAINANTS: COMPLAINANTS\nPRODUCT_HOLDERS: PRODUCT_HOLDERS', enum_type=CrisisScope, max_length=16)),
                ('assessment', fields.TextField(null=True, unique=False)),
                ('customers_affected', fields.IntField(default=0)),
                ('policies_affected', fields.IntField(default=0)),
                ('assessed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('review_causes', fields.TextField(null=True, unique=False)),
                ('review_changes', fields.TextField(null=True, unique=False)),
                ('review_timeline', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('reviewed_by', fields.UUIDField(null=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'crisis_incident', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisAction',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('incident', fields.ForeignKeyField('models.CrisisIncident', source_field='incident_id', db_index=True, db_constraint=True, to_field='id', related_name='actions', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(max_length=200)),
                ('owner', fields.ForeignKeyField('models.StaffUser', source_field='owner_id', db_constraint=True, to_field='id', related_name='crisis_actions', on_delete=OnDelete.RESTRICT)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('done_by', fields.UUIDField(null=True)),
                ('done_note', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'crisis_action', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One item of the response checklist: what, whose, by when, done.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('incident', fields.ForeignKeyField('models.CrisisIncident', source_field='incident_id', db_index=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.UUIDField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('from_status', fields.CharEnumField(null=True, description='IDENTIFIED: IDENTIFIED\nASSESSED: ASSESSED\nRESPONDING: RESPONDING\nCOMMUNICATING: COMMUNICATING\nREVIEWING: REVIEWING\nCLOSED: CLOSED', enum_type=CrisisStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='IDENTIFIED: IDENTIFIED\nASSESSED: ASSESSED\nRESPONDING: RESPONDING\nCOMMUNICATING: COMMUNICATING\nREVIEWING: REVIEWING\nCLOSED: CLOSED', enum_type=CrisisStatus, max_length=16)),
                ('note', fields.TextField(unique=False)),
            ],
            options={'table': 'crisis_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One line of an incident's timeline (the review's timeline is made from these)."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisStatement',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('incident', fields.ForeignKeyField('models.CrisisIncident', source_field='incident_id', db_index=True, db_constraint=True, to_field='id', related_name='statements', on_delete=OnDelete.CASCADE)),
                ('audience', fields.CharEnumField(description='CUSTOMERS: CUSTOMERS\nMEDIA: MEDIA\nREGULATOR: REGULATOR\nOTHER: OTHER', enum_type=StatementAudience, max_length=16)),
                ('party', fields.CharField(null=True, max_length=64)),
                ('text', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=StatementStatus.DRAFT, description='DRAFT: DRAFT\nAPPROVED: APPROVED\nRELEASED: RELEASED', enum_type=StatementStatus, max_length=16)),
                ('drafted_by', fields.UUIDField()),
                ('approved_by', fields.UUIDField(null=True)),
                ('approved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('released_by', fields.UUIDField(null=True)),
                ('released_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('notified', fields.IntField(default=0)),
            ],
            options={'table': 'crisis_statement', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A statement to one audience: drafted, approved by a second manager, released.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='CrisisTeamMember',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('incident', fields.ForeignKeyField('models.CrisisIncident', source_field='incident_id', db_constraint=True, to_field='id', related_name='team', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', db_constraint=True, to_field='id', related_name='crisis_teams', on_delete=OnDelete.RESTRICT)),
                ('role', fields.CharEnumField(description='LEAD: LEAD\nCOMMUNICATIONS: COMMUNICATIONS\nCUSTOMER_CARE: CUSTOMER_CARE\nLEGAL: LEGAL\nOPERATIONS: OPERATIONS', enum_type=CrisisTeamRole, max_length=16)),
            ],
            options={'table': 'crisis_team_member', 'app': 'models', 'unique_together': (('incident', 'staff'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='Complaint',
            name='incident',
            field=fields.ForeignKeyField('models.CrisisIncident', source_field='incident_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.SET_NULL),
        ),
    ]
