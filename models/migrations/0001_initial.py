from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.auth import SubjectKind
from models.policies import PaymentFrequency, PolicyStatus, ProductKind
from models.staff import StaffRole
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuthSession',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('subject_kind', fields.CharEnumField(description='CUSTOMER: customer\nSTAFF: staff', enum_type=SubjectKind, max_length=16)),
                ('subject_id', fields.UUIDField()),
                ('channel', fields.CharField(max_length=32)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'auth_session', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(default='', max_length=64)),
                ('phone_encrypted', fields.TextField(unique=False)),
                ('phone_hash', fields.CharField(unique=True, max_length=64)),
                ('phone_masked', fields.CharField(max_length=16)),
                ('id_number_encrypted', fields.TextField(null=True, unique=False)),
                ('id_number_hash', fields.CharField(null=True, db_index=True, max_length=64)),
                ('id_number_masked', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'customer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='OtpChallenge',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('phone_hash', fields.CharField(db_index=True, max_length=64)),
                ('send_slot', fields.BigIntField()),
                ('code_hash', fields.CharField(max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('consumed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'otp_challenge', 'app': 'models', 'unique_together': (('phone_hash', 'send_slot'),), 'pk_attr': 'id', 'table_description': 'One SMS code sent to one phone, the code kept only as a keyed hash.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('kind', fields.CharEnumField(description='AUTO: AUTO\nHEALTH: HEALTH\nACCIDENT: ACCIDENT\nPROPERTY: PROPERTY\nTRAVEL: TRAVEL', enum_type=ProductKind, max_length=16)),
                ('description', fields.TextField(default='', unique=False)),
                ('report_time_limit_hours', fields.IntField()),
                ('cooling_off_days', fields.IntField(default=0)),
                ('renewable', fields.BooleanField(default=True)),
                ('loss_types', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'product', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An insurance product and the terms later workflows read.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Policy',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name='policies', on_delete=OnDelete.RESTRICT)),
                ('holder', fields.ForeignKeyField('models.Customer', source_field='holder_id', db_constraint=True, to_field='id', related_name='policies_held', on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(db_index=True, description='PENDING: PENDING\nACTIVE: ACTIVE\nLAPSED: LAPSED\nEXPIRED: EXPIRED\nCANCELLED: CANCELLED', enum_type=PolicyStatus, max_length=16)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sum_insured', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('premium', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('payment_frequency', fields.CharEnumField(description='SINGLE: SINGLE\nANNUAL: ANNUAL\nSEMI_ANNUAL: SEMI_ANNUAL\nQUARTERLY: QUARTERLY\nMONTHLY: MONTHLY', enum_type=PaymentFrequency, max_length=16)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'policy', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='Beneficiary',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(max_length=64)),
                ('id_number_encrypted', fields.TextField(unique=False)),
                ('id_number_hash', fields.CharField(db_index=True, max_length=64)),
                ('id_number_masked', fields.CharField(max_length=32)),
                ('position', fields.IntField(default=0)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='beneficiaries', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='beneficiary_of', on_delete=OnDelete.SET_NULL)),
                ('relation_to_insured', fields.CharField(max_length=16)),
                ('share_percent', fields.DecimalField(max_digits=5, decimal_places=2)),
            ],
            options={'table': 'beneficiary', 'app': 'models', 'pk_attr': 'id'},
            bases=['PolicyPerson'],
        ),
        ops.CreateModel(
            name='Coverage',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='coverages', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('sum_insured', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('deductible', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('used_amount', fields.DecimalField(default=0, max_digits=14, decimal_places=2)),
                ('position', fields.IntField(default=0)),
            ],
            options={'table': 'coverage', 'app': 'models', 'unique_together': (('policy', 'code'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='InsuredPerson',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('name', fields.CharField(max_length=64)),
                ('id_number_encrypted', fields.TextField(unique=False)),
                ('id_number_hash', fields.CharField(db_index=True, max_length=64)),
                ('id_number_masked', fields.CharField(max_length=32)),
                ('position', fields.IntField(default=0)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='insured_persons', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='insured_in', on_delete=OnDelete.SET_NULL)),
                ('relation_to_holder', fields.CharField(max_length=16)),
            ],
            options={'table': 'insured_person', 'app': 'models', 'pk_attr': 'id'},
            bases=['PolicyPerson'],
        ),
        ops.CreateModel(
            name='PremiumInstallment',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', db_constraint=True, to_field='id', related_name='installments', on_delete=OnDelete.CASCADE)),
                ('sequence', fields.IntField()),
                ('due_date', fields.DateField()),
                ('amount', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'premium_installment', 'app': 'models', 'unique_together': (('policy', 'sequence'),), 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('session', fields.ForeignKeyField('models.AuthSession', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='StaffUser',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('display_name', fields.CharField(max_length=64)),
                ('role', fields.CharEnumField(description='AGENT: agent\nADJUSTER: adjuster\nSUPERVISOR: supervisor\nADMIN: admin', enum_type=StaffRole, max_length=16)),
                ('password_hash', fields.CharField(max_length=255)),
                ('is_active', fields.BooleanField(default=True)),
                ('failed_logins', fields.IntField(default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_user', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='WechatIdentity',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='wechat_identities', on_delete=OnDelete.CASCADE)),
                ('app_id', fields.CharField(max_length=64)),
                ('openid', fields.CharField(max_length=128)),
                ('unionid', fields.CharField(null=True, db_index=True, max_length=128)),
            ],
            options={'table': 'wechat_identity', 'app': 'models', 'unique_together': (('app_id', 'openid'),), 'pk_attr': 'id', 'table_description': 'A mini-program openid (and unionid when WeChat sends one) bound to a customer.'},
            bases=['Entity'],
        ),
    ]
