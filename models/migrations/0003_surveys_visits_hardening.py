from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_visits_and_survey_exports')]

    initial = False

    operations = [
        ops.AddField(
            model_name='FollowUpVisit',
            name='agreed_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='RecoveryTask',
            name='open_key',
            field=fields.CharField(null=True, unique=True, max_length=160),
        ),
        ops.AlterField(
            model_name='SurveyInvitation',
            name='token_hash',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
    ]
