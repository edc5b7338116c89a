"""Products a customer can buy in the app (issue 16): ``product.sold_online``."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0014_conversations')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Product',
            name='sold_online',
            field=fields.BooleanField(default=False, db_default=False),
        ),
    ]
