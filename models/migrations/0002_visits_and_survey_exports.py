from tortoise import migrations
from tortoise.migrations import operations as ops
from models.visits import VisitChannel, VisitStatus, VisitTrigger
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FollowUpVisit',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_index=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.CASCADE)),
                ('trigger', fields.CharEnumField(description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE', enum_type=VisitTrigger, max_length=24)),
                ('subject', fields.CharField(max_length=96)),
                ('purpose', fields.CharField(max_length=64)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.SET_NULL)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharEnumField(description='PHONE: PHONE\nEMAIL: EMAIL\nFACE_TO_FACE: FACE_TO_FACE', enum_type=VisitChannel, max_length=16)),
                ('status', fields.CharEnumField(default=VisitStatus.SCHEDULED, description='SCHEDULED: SCHEDULED\nDONE: DONE\nUNREACHABLE: UNREACHABLE\nDECLINED: DECLINED', enum_type=VisitStatus, max_length=16)),
                ('due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('assignee', fields.ForeignKeyField('models.StaffUser', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='visits', on_delete=OnDelete.SET_NULL)),
                ('attempts', fields.IntField(default=0)),
                ('max_attempts', fields.IntField()),
                ('retry_after_days', fields.IntField()),
                ('preferred_time', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('customer_note', fields.CharField(default='', max_length=200)),
                ('change_requested_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('needs', fields.TextField(default='', unique=False)),
                ('next_action', fields.TextField(default='', unique=False)),
                ('new_policy_interest', fields.BooleanField(default=False)),
                ('complaint_raised', fields.BooleanField(default=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_by', fields.UUIDField(null=True)),
                ('survey_invitation', fields.ForeignKeyField('models.SurveyInvitation', source_field='survey_invitation_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'follow_up_visit', 'app': 'models', 'unique_together': (('trigger', 'subject'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='SurveyExport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff_id', fields.UUIDField()),
                ('template_code', fields.CharField(max_length=32)),
                ('first_day', fields.CharField(max_length=10)),
                ('last_day', fields.CharField(max_length=10)),
                ('file_format', fields.CharField(max_length=8)),
                ('rows', fields.IntField()),
                ('storage_key', fields.CharField(max_length=128)),
                ('file_name', fields.CharField(max_length=96)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'survey_export', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An export for the third-party survey company: who made it, what it held, and the'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='VisitAttempt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('visit', fields.ForeignKeyField('models.FollowUpVisit', source_field='visit_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('staff_id', fields.UUIDField(null=True)),
                ('reached', fields.BooleanField()),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'visit_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One call, e-mail or meeting, reached or not, by whom.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='VisitRule',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('trigger', fields.CharEnumField(unique=True, description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE', enum_type=VisitTrigger, max_length=24)),
                ('enabled', fields.BooleanField(default=True)),
                ('channel', fields.CharEnumField(description='PHONE: PHONE\nEMAIL: EMAIL\nFACE_TO_FACE: FACE_TO_FACE', enum_type=VisitChannel, max_length=16)),
                ('days', fields.IntField()),
                ('every_months', fields.IntField(null=True)),
                ('min_annual_premium', fields.DecimalField(null=True, max_digits=14, decimal_places=2)),
                ('max_attempts', fields.IntField(default=3)),
                ('retry_after_days', fields.IntField(default=2)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('updated_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'visit_rule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How the worker plans one kind of visit. ``days`` means: after closure'},
            bases=['Entity'],
        ),
        ops.AlterField(
            model_name='Policy',
            name='starts_at',
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
