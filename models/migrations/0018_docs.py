"""Issue 16, documents: ``policy_document`` (issued PDFs with their hashes) and
``invoice_request`` (e-invoice requests of paid premium orders)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.policy_documents import DocumentKind, InvoiceStatus, InvoiceTitleKind
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0017_plans')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PolicyDocument',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('kind', fields.CharEnumField(description='POLICY: POLICY\nPREMIUM_RECEIPT: PREMIUM_RECEIPT\nCLAIM_NOTICE: CLAIM_NOTICE\nYEARLY_STATEMENT: YEARLY_STATEMENT\nENDORSEMENT: ENDORSEMENT\nINVOICE: INVOICE', enum_type=DocumentKind, max_length=24)),
                ('subject_key', fields.CharField(max_length=96)),
                ('version', fields.IntField(default=1)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('title', fields.CharField(max_length=64)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_index=True, db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.RESTRICT)),
                ('policy', fields.ForeignKeyField('models.Policy', source_field='policy_id', null=True, db_constraint=True, to_field='id', related_name='documents', on_delete=OnDelete.RESTRICT)),
                ('holder_name_masked', fields.CharField(max_length=32)),
                ('storage_key', fields.CharField(max_length=512)),
                ('file_name', fields.CharField(max_length=128)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(unique=True, max_length=64)),
                ('verification_code', fields.CharField(unique=True, max_length=64)),
                ('content_digest', fields.CharField(max_length=64)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'policy_document', 'app': 'models', 'unique_together': (('kind', 'subject_key', 'version'),), 'pk_attr': 'id', 'table_description': 'One issued PDF. ``subject_key`` names what it is about (``policy:<id>``,'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='InvoiceRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('number', fields.CharField(unique=True, max_length=32)),
                ('order', fields.ForeignKeyField('models.PaymentOrder', source_field='order_id', db_constraint=True, to_field='id', related_name='invoice_requests', on_delete=OnDelete.RESTRICT)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_index=True, db_constraint=True, to_field='id', related_name='invoice_requests', on_delete=OnDelete.RESTRICT)),
                ('title_kind', fields.CharEnumField(description='PERSONAL: PERSONAL\nCOMPANY: COMPANY', enum_type=InvoiceTitleKind, max_length=16)),
                ('title', fields.CharField(max_length=100)),
                ('tax_number', fields.CharField(null=True, max_length=20)),
                ('email_encrypted', fields.TextField(null=True, unique=False)),
                ('email_masked', fields.CharField(null=True, max_length=128)),
                ('amount', fields.DecimalField(max_digits=14, decimal_places=2)),
                ('status', fields.CharEnumField(default=InvoiceStatus.REQUESTED, db_index=True, description='REQUESTED: REQUESTED\nSUBMITTED: SUBMITTED\nISSUED: ISSUED\nFAILED: FAILED', enum_type=InvoiceStatus, max_length=16)),
                ('provider', fields.CharField(max_length=32)),
                ('provider_ref', fields.CharField(null=True, max_length=64)),
                ('invoice_number', fields.CharField(null=True, max_length=32)),
                ('failure_reason', fields.CharField(null=True, max_length=255)),
                ('attempts', fields.IntField(default=0)),
                ('document', fields.ForeignKeyField('models.PolicyDocument', source_field='document_id', null=True, db_constraint=True, to_field='id', related_name='invoices', on_delete=OnDelete.RESTRICT)),
                ('submitted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('live_key', fields.CharField(null=True, unique=True, max_length=64)),
            ],
            options={'table': 'invoice_request', 'app': 'models', 'pk_attr': 'id', 'table_description': "A customer's request for an e-invoice (电子发票) of a paid premium order."},
            bases=['Entity'],
        ),
    ]
