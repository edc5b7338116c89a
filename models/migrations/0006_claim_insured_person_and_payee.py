"""Claims name the insured person the loss befell and who is paid, and keep the documents
asked because of that person (nullable: the columns are added to claims that exist)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_staff_team')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Claim',
            name='insured_person',
            field=fields.ForeignKeyField('models.InsuredPerson', source_field='insured_person_id', null=True, db_constraint=True, to_field='id', related_name='claims', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Claim',
            name='payee',
            field=fields.ForeignKeyField('models.Customer', source_field='payee_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='claims_paid_to', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Claim',
            name='person_documents',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
