"""The complaint sweep marks a first response not made in time (issue 14, left from the
previous stop): ``complaint.first_response_breached_at``."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0015_online_products')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Complaint',
            name='first_response_breached_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
