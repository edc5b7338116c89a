"""Data security and personal-information rights (issue 18): the PII access log and
reveal alerts, the key-rotation cursor, marketing consent, data exports, deletion
requests, retention runs; the last use of a session (the staff idle timeout)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.privacy import DataExportStatus, PiiField, PiiSubjectKind
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0028_photo_bands')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DataDeletionRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer_id', fields.UUIDField(db_index=True)),
                ('deleted', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('kept', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'data_deletion_request', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's deletion request, carried out at once: what was deleted and kept."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='DataExport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer_id', fields.UUIDField(db_index=True)),
                ('day', fields.DateField()),
                ('status', fields.CharEnumField(description='READY: READY\nEXPIRED: EXPIRED', enum_type=DataExportStatus, max_length=16)),
                ('storage_key', fields.CharField(max_length=255)),
                ('size_bytes', fields.IntField()),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'data_export', 'app': 'models', 'unique_together': (('customer_id', 'day'),), 'pk_attr': 'id', 'table_description': "A ZIP of a customer's own data, read through a signed link until ``expires_at``."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='MarketingConsent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer_id', fields.UUIDField(unique=True)),
                ('given', fields.BooleanField()),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'marketing_consent', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's marketing consent (营销信息). No row: not given."},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PiiAccess',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff_id', fields.UUIDField(db_index=True)),
                ('session_id', fields.UUIDField(null=True)),
                ('customer_id', fields.UUIDField(null=True, db_index=True)),
                ('subject_kind', fields.CharEnumField(description='FOLLOW_UP_VISIT: FOLLOW_UP_VISIT\nRECOVERY_TASK: RECOVERY_TASK\nPOLICY_DOCUMENT: POLICY_DOCUMENT\nCUSTOMER: CUSTOMER', enum_type=PiiSubjectKind, max_length=24)),
                ('subject_id', fields.UUIDField()),
                ('field', fields.CharEnumField(description='PHONE: PHONE\nID_NUMBER: ID_NUMBER\nEMAIL: EMAIL\nDOCUMENT: DOCUMENT', enum_type=PiiField, max_length=16)),
                ('purpose', fields.CharField(max_length=200)),
            ],
            options={'table': 'pii_access', 'app': 'models', 'indexes': [Index(fields=['staff_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One staff read of a full personal value: who, what, when and why. Rows are only'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PiiKeyRotation',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('key_id', fields.CharField(unique=True, max_length=32)),
                ('target_index', fields.IntField(default=0)),
                ('last_id', fields.CharField(null=True, max_length=64)),
                ('rewrapped', fields.IntField(default=0)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'pii_key_rotation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One rotation to ``key_id``: where it got to (resumable after a stop).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PiiRevealAlert',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('staff_id', fields.UUIDField()),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reveal_count', fields.IntField()),
                ('threshold', fields.IntField()),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('acknowledged_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'pii_reveal_alert', 'app': 'models', 'unique_together': (('staff_id', 'window_start'),), 'pk_attr': 'id', 'table_description': 'A staff member read more than the allowed number of records in one hour window'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RetentionRun',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('day', fields.DateField(unique=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('counts', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'retention_run', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One run of the retention job, with how much it deleted of each kind.'},
            bases=['Entity'],
        ),
        ops.AddField(
            model_name='AuthSession',
            name='last_used_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
