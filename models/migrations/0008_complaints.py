"""Complaints (消费投诉): the complaint with its clocks and links, its timeline, and
staff decisions on the proposed classification."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.complaints import ComplaintChannel, ComplaintClass, ComplaintStatus, Urgency
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_payout_accounts_sealed_and_shares')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Complaint',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('channel', fields.CharEnumField(description='APP: APP\nMINI_PROGRAM: MINI_PROGRAM\nPHONE: PHONE\nCOUNTER: COUNTER\nLETTER: LETTER\nEMAIL: EMAIL\nREGULATOR: REGULATOR\nMEDIA: MEDIA', enum_type=ComplaintChannel, max_length=16)),
                ('content_class', fields.CharEnumField(db_index=True, description='SERVICE: SERVICE\nPRODUCT: PRODUCT\nCLAIM: CLAIM\nSALES: SALES\nPAYMENT: PAYMENT\nPRIVACY: PRIVACY', enum_type=ComplaintClass, max_length=16)),
                ('urgency', fields.CharEnumField(db_index=True, description='GENERAL: GENERAL\nURGENT: URGENT\nMAJOR: MAJOR', enum_type=Urgency, max_length=16)),
                ('proposed_class', fields.CharEnumField(description='SERVICE: SERVICE\nPRODUCT: PRODUCT\nCLAIM: CLAIM\nSALES: SALES\nPAYMENT: PAYMENT\nPRIVACY: PRIVACY', enum_type=ComplaintClass, max_length=16)),
                ('proposed_urgency', fields.CharEnumField(description='GENERAL: GENERAL\nURGENT: URGENT\nMAJOR: MAJOR', enum_type=Urgency, max_length=16)),
                ('classification_confirmed', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(db_index=True, description='RECEIVED: RECEIVED\nASSIGNED: ASSIGNED\nIN_PROGRESS: IN_PROGRESS\nINFO_REQUESTED: INFO_REQUESTED\nANSWERED: ANSWERED\nACCEPTED: ACCEPTED\nREVIEW_REQUESTED: REVIEW_REQUESTED\nCLOSED: CLOSED\nWITHDRAWN: WITHDRAWN', enum_type=ComplaintStatus, max_length=24)),
                ('version', fields.IntField(default=1)),
                ('text', fields.TextField(unique=False)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('claim', fields.ForeignKeyField('models.Claim', source_field='claim_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('payment_order', fields.ForeignKeyField('models.PaymentOrder', source_field='payment_order_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('visit', fields.ForeignKeyField('models.FollowUpVisit', source_field='visit_id', null=True, db_constraint=True, to_field='id', related_name='complaints', on_delete=OnDelete.RESTRICT)),
                ('staff_subject', fields.ForeignKeyField('models.StaffUser', source_field='staff_subject_id', null=True, db_constraint=True, to_field='id', related_name='complaints_about', on_delete=OnDelete.RESTRICT)),
                ('recorded_by', fields.ForeignKeyField('models.StaffUser', source_field='recorded_by_id', null=True, db_constraint=True, to_field='id', related_name='complaints_recorded', on_delete=OnDelete.SET_NULL)),
                ('handler', fields.ForeignKeyField('models.StaffUser', source_field='handler_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='complaints_handled', on_delete=OnDelete.SET_NULL)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('first_response_due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('first_responded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answer_due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('extensions', fields.IntField(default=0)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('breached_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answer', fields.TextField(null=True, unique=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'complaint', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ClassificationCorrection',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('complaint', fields.ForeignKeyField('models.Complaint', source_field='complaint_id', db_index=True, db_constraint=True, to_field='id', related_name='corrections', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.StaffUser', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='complaint_corrections', on_delete=OnDelete.SET_NULL)),
                ('proposed_class', fields.CharEnumField(description='SERVICE: SERVICE\nPRODUCT: PRODUCT\nCLAIM: CLAIM\nSALES: SALES\nPAYMENT: PAYMENT\nPRIVACY: PRIVACY', enum_type=ComplaintClass, max_length=16)),
                ('proposed_urgency', fields.CharEnumField(description='GENERAL: GENERAL\nURGENT: URGENT\nMAJOR: MAJOR', enum_type=Urgency, max_length=16)),
                ('chosen_class', fields.CharEnumField(description='SERVICE: SERVICE\nPRODUCT: PRODUCT\nCLAIM: CLAIM\nSALES: SALES\nPAYMENT: PAYMENT\nPRIVACY: PRIVACY', enum_type=ComplaintClass, max_length=16)),
                ('chosen_urgency', fields.CharEnumField(description='GENERAL: GENERAL\nURGENT: URGENT\nMAJOR: MAJOR', enum_type=Urgency, max_length=16)),
                ('accepted', fields.BooleanField()),
            ],
            options={'table': 'complaint_classification', 'app': 'models', 'pk_attr': 'id', 'table_description': "Staff's decision on the system's proposal, kept so the rules can be checked"},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ComplaintEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('complaint', fields.ForeignKeyField('models.Complaint', source_field='complaint_id', db_index=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('actor_kind', fields.CharField(max_length=16)),
                ('actor_id', fields.UUIDField(null=True)),
                ('action', fields.CharField(max_length=32)),
                ('from_status', fields.CharEnumField(null=True, description='RECEIVED: RECEIVED\nASSIGNED: ASSIGNED\nIN_PROGRESS: IN_PROGRESS\nINFO_REQUESTED: INFO_REQUESTED\nANSWERED: ANSWERED\nACCEPTED: ACCEPTED\nREVIEW_REQUESTED: REVIEW_REQUESTED\nCLOSED: CLOSED\nWITHDRAWN: WITHDRAWN', enum_type=ComplaintStatus, max_length=24)),
                ('to_status', fields.CharEnumField(description='RECEIVED: RECEIVED\nASSIGNED: ASSIGNED\nIN_PROGRESS: IN_PROGRESS\nINFO_REQUESTED: INFO_REQUESTED\nANSWERED: ANSWERED\nACCEPTED: ACCEPTED\nREVIEW_REQUESTED: REVIEW_REQUESTED\nCLOSED: CLOSED\nWITHDRAWN: WITHDRAWN', enum_type=ComplaintStatus, max_length=24)),
                ('note', fields.TextField(unique=False)),
                ('internal', fields.BooleanField(default=False)),
            ],
            options={'table': 'complaint_event', 'app': 'models', 'pk_attr': 'id', 'table_description': "One line of a complaint's timeline (``internal`` lines are for staff only)."},
            bases=['Entity'],
        ),
    ]
