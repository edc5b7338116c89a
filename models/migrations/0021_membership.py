from uuid import uuid4

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from models.membership import MemberTier, PointsKind


class Migration(migrations.Migration):
    dependencies = [('models', '0020_buy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Membership',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.OneToOneField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='membership', on_delete=OnDelete.CASCADE)),
                ('tier', fields.CharEnumField(default=MemberTier.STANDARD, description='STANDARD: STANDARD\nSILVER: SILVER\nGOLD: GOLD\nPLATINUM: PLATINUM', enum_type=MemberTier, max_length=16)),
                ('tier_since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('pending_tier', fields.CharEnumField(null=True, description='STANDARD: STANDARD\nSILVER: SILVER\nGOLD: GOLD\nPLATINUM: PLATINUM', enum_type=MemberTier, max_length=16)),
                ('grace_until', fields.DateField(null=True)),
                ('recomputed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'membership', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PointsEntry',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='points_entries', on_delete=OnDelete.CASCADE)),
                ('points', fields.IntField()),
                ('kind', fields.CharEnumField(description='EARNED: EARNED\nGOODWILL: GOODWILL\nREDEEMED: REDEEMED\nEXPIRED: EXPIRED', enum_type=PointsKind, max_length=16)),
                ('source', fields.CharField(max_length=160)),
                ('reason', fields.CharField(max_length=200)),
                ('expires_on', fields.DateField(null=True)),
            ],
            options={'table': 'points_entry', 'app': 'models', 'unique_together': (('customer', 'source'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
    ]
