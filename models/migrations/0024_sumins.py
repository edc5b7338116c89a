"""Changes of cover (issue 16): SUM_INSURED and MEMBER_REMOVAL endorsements, the last
covered day of a member removed from a family policy, and refunds of a change
(RefundReason.ENDORSEMENT)."""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from models.endorsements import EndorsementType
from models.payments import RefundReason


class DescribeEnum(ops.AlterField):
    """A new value of a CharEnumField changes only its description in the migration
    state: nothing to alter in the database (see 0014: Tortoise's AlterField rebuilds the
    table on SQLite and drops its unique constraints — endorsement.open_key and
    refund.refund_number are what make a change and a refund happen once)."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0023_commitments')]

    initial = False

    operations = [
        DescribeEnum(
            model_name='Endorsement',
            name='type',
            field=fields.CharEnumField(description='BENEFICIARIES: BENEFICIARIES\nSURRENDER: SURRENDER\nCONTACT: CONTACT\nPAYMENT_FREQUENCY: PAYMENT_FREQUENCY\nREINSTATEMENT: REINSTATEMENT\nINSURED_MEMBER: INSURED_MEMBER\nSUM_INSURED: SUM_INSURED\nMEMBER_REMOVAL: MEMBER_REMOVAL', enum_type=EndorsementType, max_length=24),
        ),
        ops.AddField(
            model_name='InsuredPerson',
            name='covered_until',
            field=fields.DateField(null=True),
        ),
        DescribeEnum(
            model_name='Refund',
            name='reason',
            field=fields.CharEnumField(description='PAID_IN_ERROR: PAID_IN_ERROR\nCOOLING_OFF_CANCELLATION: COOLING_OFF_CANCELLATION\nDUPLICATE_PAYMENT: DUPLICATE_PAYMENT\nCOMPLAINT_REMEDY: COMPLAINT_REMEDY\nENDORSEMENT: ENDORSEMENT', enum_type=RefundReason, max_length=32),
        ),
    ]
