from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.benefits import BookingMethod, BookingState, Entitlement, PartnerKind, RoadsideNeed, ServiceKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0024_sumins')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BenefitUsage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer_id', fields.UUIDField()),
                ('service_id', fields.UUIDField()),
                ('year', fields.IntField()),
                ('slot', fields.IntField()),
                ('booking_id', fields.UUIDField(unique=True)),
            ],
            options={'table': 'benefit_usage', 'app': 'models', 'unique_together': (('customer_id', 'service_id', 'year', 'slot'),), 'pk_attr': 'id', 'table_description': 'One used unit of a yearly quota: the unique key is the quota.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Partner',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='MEDICAL: MEDICAL\nHEALTH: HEALTH\nTRAVEL: TRAVEL\nAUTO: AUTO', enum_type=PartnerKind, max_length=16)),
                ('base_url', fields.CharField(null=True, max_length=200)),
                ('active', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'partner', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='BenefitService',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('description', fields.TextField(default='', unique=False)),
                ('kind', fields.CharEnumField(description='GREEN_CHANNEL: GREEN_CHANNEL\nONLINE_DOCTOR: ONLINE_DOCTOR\nCHECK_UP: CHECK_UP\nDENTAL: DENTAL\nROADSIDE: ROADSIDE\nTRAVEL_EMERGENCY: TRAVEL_EMERGENCY', enum_type=ServiceKind, max_length=24)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.RESTRICT)),
                ('tiers', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('product_kinds', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('product_codes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('yearly_quota', fields.IntField()),
                ('booking_method', fields.CharEnumField(description='APPOINTMENT: APPOINTMENT\nON_DEMAND: ON_DEMAND', enum_type=BookingMethod, max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('version', fields.IntField(default=1)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'benefit_service', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='PartnerEvent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.CharField(max_length=64)),
                ('booking_id', fields.UUIDField(null=True)),
                ('sequence', fields.IntField()),
                ('state', fields.CharField(max_length=16)),
                ('applied', fields.BooleanField()),
                ('body', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'partner_event', 'app': 'models', 'unique_together': (('partner', 'event_id'),), 'pk_attr': 'id', 'table_description': 'A callback event as received (replays are refused by the unique key).'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ServiceBooking',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='service_bookings', on_delete=OnDelete.RESTRICT)),
                ('service', fields.ForeignKeyField('models.BenefitService', source_field='service_id', db_constraint=True, to_field='id', related_name='bookings', on_delete=OnDelete.RESTRICT)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='bookings', on_delete=OnDelete.RESTRICT)),
                ('entitlement', fields.CharEnumField(description='TIER: TIER\nPOLICY: POLICY', enum_type=Entitlement, max_length=8)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='service_bookings', on_delete=OnDelete.RESTRICT)),
                ('quota_year', fields.IntField()),
                ('state', fields.CharEnumField(db_index=True, description='REQUESTED: REQUESTED\nCONFIRMED: CONFIRMED\nDISPATCHED: DISPATCHED\nEN_ROUTE: EN_ROUTE\nARRIVED: ARRIVED\nDONE: DONE\nCANCELLED: CANCELLED\nNO_SHOW: NO_SHOW', enum_type=BookingState, max_length=16)),
                ('preferred_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('scheduled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('note', fields.CharField(default='', max_length=500)),
                ('partner_reference', fields.CharField(null=True, max_length=64)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('dispatched_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('arrived_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('eta_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancel_reason', fields.CharField(default='', max_length=200)),
                ('partner_sequence', fields.IntField(default=0)),
                ('need', fields.CharEnumField(null=True, description='TOW: TOW\nBATTERY: BATTERY\nTYRE: TYRE\nFUEL: FUEL\nLOCKOUT: LOCKOUT', enum_type=RoadsideNeed, max_length=16)),
                ('latitude', fields.DecimalField(null=True, max_digits=9, decimal_places=6)),
                ('longitude', fields.DecimalField(null=True, max_digits=9, decimal_places=6)),
                ('address', fields.CharField(default='', max_length=200)),
                ('plate_number', fields.CharField(default='', max_length=16)),
                ('version', fields.IntField(default=1)),
            ],
            options={'table': 'service_booking', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
    ]
