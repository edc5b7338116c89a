"""The WeChat money path (issue 20): a session names the WeChat identity it logged in
with (the payer and payee of that session), a JSAPI order the openid it was opened for,
a payout waiting for its payee the parameters of wx.requestMerchantTransfer, and a
product its filing with the regulator (reported with WeChat claim payouts). Every new
column is nullable: rows written before have none."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_complaints')]

    initial = False

    operations = [
        ops.AddField(
            model_name='AuthSession',
            name='wechat_identity',
            field=fields.ForeignKeyField('models.WechatIdentity', source_field='wechat_identity_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='PaymentOrder',
            name='payer_id',
            field=fields.CharField(null=True, max_length=128),
        ),
        ops.AddField(
            model_name='Payout',
            name='confirm_parameters',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Product',
            name='filing_name',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Product',
            name='filing_number',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
