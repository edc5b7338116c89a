"""Complaint remedies (resolutions with apology, claim re-review, goodwill payment, fee
refund), root causes with corrective actions, complaint attachments; a payout may be a
complaint's goodwill payment (``remedy``, and the QUEUED status the worker sends from); a
recovery task may name the complaint whose survey opened it."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.complaint_remedies import RemedyKind, ResolutionStatus, RootCauseCategory
from models.payments import PayoutStatus, RefundReason
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_crisis_incidents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ComplaintAttachment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('complaint', fields.ForeignKeyField('models.Complaint', source_field='complaint_id', db_index=True, db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.RESTRICT)),
                ('storage_key', fields.CharField(unique=True, max_length=255)),
                ('thumbnail_key', fields.CharField(null=True, max_length=255)),
                ('content_type', fields.CharField(max_length=64)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('width', fields.IntField(null=True)),
                ('height', fields.IntField(null=True)),
                ('file_name', fields.CharField(max_length=128)),
                ('uploaded_by_kind', fields.CharField(max_length=16)),
                ('uploaded_by_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'complaint_attachment', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A photo or document filed with a complaint, through the image pipeline of claim'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ComplaintResolution',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('complaint', fields.ForeignKeyField('models.Complaint', source_field='complaint_id', db_index=True, db_constraint=True, to_field='id', related_name='resolutions', on_delete=OnDelete.CASCADE)),
                ('explanation', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(description='AWAITING_APPROVAL: AWAITING_APPROVAL\nCARRIED_OUT: CARRIED_OUT\nREJECTED: REJECTED', enum_type=ResolutionStatus, max_length=24)),
                ('total_amount', fields.DecimalField(default=Decimal('0'), max_digits=14, decimal_places=2)),
                ('proposed_by', fields.UUIDField()),
                ('decided_by', fields.UUIDField(null=True)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decision_note', fields.TextField(default='', unique=False)),
                ('carried_out_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('open_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'complaint_resolution', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ComplaintRemedy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolution', fields.ForeignKeyField('models.ComplaintResolution', source_field='resolution_id', db_constraint=True, to_field='id', related_name='remedies', on_delete=OnDelete.CASCADE)),
                ('complaint', fields.ForeignKeyField('models.Complaint', source_field='complaint_id', db_index=True, db_constraint=True, to_field='id', related_name='remedies', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='APOLOGY: APOLOGY\nCLAIM_REREVIEW: CLAIM_REREVIEW\nGOODWILL_PAYMENT: GOODWILL_PAYMENT\nFEE_REFUND: FEE_REFUND', enum_type=RemedyKind, max_length=24)),
                ('position', fields.IntField()),
                ('amount', fields.DecimalField(default=Decimal('0'), max_digits=14, decimal_places=2)),
                ('note', fields.TextField(default='', unique=False)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', null=True, db_constraint=True, to_field='id', related_name='complaint_remedies', on_delete=OnDelete.RESTRICT)),
                ('payment_order', fields.ForeignKeyField('models.PaymentOrder', source_field='payment_order_id', null=True, db_constraint=True, to_field='id', related_name='complaint_remedies', on_delete=OnDelete.RESTRICT)),
                ('refund', fields.ForeignKeyField('models.Refund', source_field='refund_id', null=True, db_constraint=True, to_field='id', related_name='complaint_remedies', on_delete=OnDelete.RESTRICT)),
                ('carried_out_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'complaint_remedy', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ComplaintRootCause',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('complaint', fields.OneToOneField('models.Complaint', source_field='complaint_id', db_constraint=True, to_field='id', related_name='root_cause', on_delete=OnDelete.CASCADE)),
                ('category', fields.CharEnumField(db_index=True, description='PRODUCT_DESIGN: PRODUCT_DESIGN\nSALES_CONDUCT: SALES_CONDUCT\nCLAIM_HANDLING: CLAIM_HANDLING\nSERVICE_ATTITUDE: SERVICE_ATTITUDE\nPROCESS_RULE: PROCESS_RULE\nSYSTEM_FAULT: SYSTEM_FAULT\nCOMMUNICATION: COMMUNICATION\nTHIRD_PARTY: THIRD_PARTY\nCUSTOMER_MISUNDERSTANDING: CUSTOMER_MISUNDERSTANDING\nOTHER: OTHER', enum_type=RootCauseCategory, max_length=32)),
                ('responsible_unit', fields.CharField(max_length=64)),
                ('corrective_action', fields.TextField(unique=False)),
                ('due_on', fields.DateField()),
                ('recorded_by', fields.UUIDField()),
                ('done_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('done_note', fields.TextField(default='', unique=False)),
                ('done_by', fields.UUIDField(null=True)),
            ],
            options={'table': 'complaint_root_cause', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Why it happened and what the responsible unit changes by when, tracked until done'},
            bases=['Entity'],
        ),
        ops.AlterField(
            model_name='Payout',
            name='status',
            field=fields.CharEnumField(default=PayoutStatus.PROCESSING, description='AWAITING_APPROVAL: AWAITING_APPROVAL\nQUEUED: QUEUED\nPROCESSING: PROCESSING\nWAIT_USER_CONFIRM: WAIT_USER_CONFIRM\nSUCCESS: SUCCESS\nFAILED: FAILED\nCANCELLED: CANCELLED', enum_type=PayoutStatus, max_length=24),
        ),
        ops.AddField(
            model_name='Payout',
            name='remedy',
            field=fields.ForeignKeyField('models.ComplaintRemedy', source_field='remedy_id', null=True, db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='RecoveryTask',
            name='complaint',
            field=fields.ForeignKeyField('models.Complaint', source_field='complaint_id', null=True, db_constraint=True, to_field='id', related_name='recovery_tasks', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='Refund',
            name='reason',
            field=fields.CharEnumField(description='PAID_IN_ERROR: PAID_IN_ERROR\nCOOLING_OFF_CANCELLATION: COOLING_OFF_CANCELLATION\nDUPLICATE_PAYMENT: DUPLICATE_PAYMENT\nCOMPLAINT_REMEDY: COMPLAINT_REMEDY', enum_type=RefundReason, max_length=32),
        ),
    ]
