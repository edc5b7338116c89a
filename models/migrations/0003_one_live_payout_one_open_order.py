from tortoise import migrations
from tortoise.migrations import operations as ops
from models.payments import PayoutStatus, RefundStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_visits_and_survey_exports')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PaymentOrder',
            name='open_key',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AlterField(
            model_name='Payout',
            name='status',
            field=fields.CharEnumField(default=PayoutStatus.PROCESSING, description='AWAITING_APPROVAL: AWAITING_APPROVAL\nPROCESSING: PROCESSING\nWAIT_USER_CONFIRM: WAIT_USER_CONFIRM\nSUCCESS: SUCCESS\nFAILED: FAILED\nCANCELLED: CANCELLED', enum_type=PayoutStatus, max_length=24),
        ),
        ops.AddField(
            model_name='Payout',
            name='approved_by',
            field=fields.UUIDField(null=True),
        ),
        ops.AddField(
            model_name='Payout',
            name='live_key',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Payout',
            name='reason',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='requested_by',
            field=fields.UUIDField(null=True),
        ),
        ops.AlterField(
            model_name='Refund',
            name='requested_by',
            field=fields.UUIDField(null=True),
        ),
        ops.AlterField(
            model_name='Refund',
            name='status',
            field=fields.CharEnumField(default=RefundStatus.PROCESSING, description='QUEUED: QUEUED\nPROCESSING: PROCESSING\nSUCCESS: SUCCESS\nFAILED: FAILED', enum_type=RefundStatus, max_length=16),
        ),
        # Existing rows: the newest live payout of each claim and the newest open order of
        # each installment hold the keys (older duplicates, if any, stay as they are).
        ops.RunSQL(
        "UPDATE payout SET live_key = 'claim:' || CAST(claim_id AS VARCHAR(64)) "
        "WHERE status NOT IN ('FAILED', 'CANCELLED') AND NOT EXISTS ("
        "SELECT 1 FROM payout AS newer WHERE newer.claim_id = payout.claim_id "
        "AND newer.status NOT IN ('FAILED', 'CANCELLED') AND newer.created_at > payout.created_at)"
        ),
        ops.RunSQL(
        "UPDATE payment_order SET open_key = CAST(installment_id AS VARCHAR(64)) "
        "WHERE status = 'CREATED' AND NOT EXISTS ("
        "SELECT 1 FROM payment_order AS newer WHERE newer.installment_id = "
        "payment_order.installment_id AND newer.status = 'CREATED' "
        "AND newer.created_at > payment_order.created_at)"
        ),
    ]
