"""Staff teams (e.g. 理赔一组), for assignment pickers that list colleagues by team."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_surveys_visits_hardening')]

    initial = False

    operations = [
        ops.AddField(
            model_name='StaffUser',
            name='team',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
