from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.endorsements import EndorsementType
from models.policy_accounts import AgreementStatus, ChargeOutcome, ChargePurpose
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
    dependencies = [('models', '0025_benefits')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CollectionAgreement',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='collection_agreements', on_delete=OnDelete.RESTRICT)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='collection_agreements', on_delete=OnDelete.RESTRICT)),
                ('endorsement', fields.ForeignKeyField('models.Endorsement', source_field='endorsement_id', null=True, db_constraint=True, to_field='id', related_name='agreements', on_delete=OnDelete.RESTRICT)),
                ('provider', fields.CharField(max_length=16)),
                ('external_agreement_no', fields.CharField(unique=True, max_length=32)),
                ('agreement_no', fields.CharField(null=True, unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=AgreementStatus.PENDING, description='PENDING: PENDING\nACTIVE: ACTIVE\nENDED: ENDED\nABANDONED: ABANDONED', enum_type=AgreementStatus, max_length=16)),
                ('payer_id', fields.CharField(null=True, max_length=64)),
                ('payer_masked', fields.CharField(null=True, max_length=64)),
                ('signed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('live_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'collection_agreement', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One signing of a withholding agreement for one policy.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PolicyAccount',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('policy', fields.OneToOneField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='account_on_file', on_delete=OnDelete.CASCADE)),
                ('payout_provider', fields.CharField(null=True, max_length=16)),
                ('payout_encrypted', fields.TextField(null=True, unique=False)),
                ('payout_masked', fields.CharField(null=True, max_length=64)),
                ('auto_renewal', fields.BooleanField(default=False)),
                ('auto_renewal_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'policy_account', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What is on file for one policy besides the agreement.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='WithholdingAttempt',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='withholding_attempts', on_delete=OnDelete.RESTRICT)),
                ('purpose', fields.CharEnumField(description='RENEWAL: RENEWAL\nINSTALLMENT: INSTALLMENT', enum_type=ChargePurpose, max_length=16)),
                ('day', fields.DateField()),
                ('attempt_key', fields.CharField(unique=True, max_length=96)),
                ('order', fields.ForeignKeyField('models.PaymentOrder', source_field='order_id', null=True, db_constraint=True, to_field='id', related_name='withholding_attempts', on_delete=OnDelete.RESTRICT)),
                ('outcome', fields.CharEnumField(description='CHARGING: CHARGING\nPAID: PAID\nIN_PROCESS: IN_PROCESS\nFAILED: FAILED', enum_type=ChargeOutcome, max_length=16)),
                ('detail', fields.CharField(default='', max_length=200)),
            ],
            options={'table': 'withholding_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One charge with a withholding agreement, for one purpose on one local day: the'},
            bases=['Entity'],
        ),
        DescribeEnum(
            model_name='Endorsement',
            name='type',
            field=fields.CharEnumField(description='BENEFICIARIES: BENEFICIARIES\nSURRENDER: SURRENDER\nCONTACT: CONTACT\nPAYMENT_FREQUENCY: PAYMENT_FREQUENCY\nREINSTATEMENT: REINSTATEMENT\nINSURED_MEMBER: INSURED_MEMBER\nSUM_INSURED: SUM_INSURED\nMEMBER_REMOVAL: MEMBER_REMOVAL\nPAYMENT_ACCOUNT: PAYMENT_ACCOUNT', enum_type=EndorsementType, max_length=24),
        ),
    ]
