"""Customised service plans (issue 16): ``service_plan`` and ``service_plan_interest``
(one per plan and product); a customer's interest joins the visit list
(VisitTrigger.NEW_POLICY_INTEREST)."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.visits import VisitTrigger
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields


class DescribeEnum(ops.AlterField):
    """As in 0014: a new value of a CharEnumField changes only its description in the
    migration state; Tortoise's AlterField would rebuild the table on SQLite and drop
    follow_up_visit's unique (trigger, subject), which one visit per plan and product
    rests on."""

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0016_complaint_first_response_breach')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ServicePlan',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_index=True, db_constraint=True, to_field='id', related_name='service_plans', on_delete=OnDelete.CASCADE)),
                ('questionnaire_version', fields.CharField(max_length=16)),
                ('rule_version', fields.CharField(max_length=16)),
                ('answers', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('facts', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('existing_cover', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('gaps', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('services', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'service_plan', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A customised service plan, made from one questionnaire.'},
            bases=['Entity'],
        ),
        ops.CreateModel(
            name='ServicePlanInterest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('plan', fields.ForeignKeyField('models.ServicePlan', source_field='plan_id', db_constraint=True, to_field='id', related_name='interests', on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('visit', fields.ForeignKeyField('models.FollowUpVisit', source_field='visit_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'service_plan_interest', 'app': 'models', 'unique_together': (('plan', 'product'),), 'pk_attr': 'id', 'table_description': "A customer's interest in a product their plan suggests."},
            bases=['Entity'],
        ),
        DescribeEnum(
            model_name='FollowUpVisit',
            name='trigger',
            field=fields.CharEnumField(description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK\nNEW_POLICY_INTEREST: NEW_POLICY_INTEREST', enum_type=VisitTrigger, max_length=24),
        ),
        DescribeEnum(
            model_name='VisitRule',
            name='trigger',
            field=fields.CharEnumField(unique=True, description='CLAIM_CLOSED: CLAIM_CLOSED\nPOLICY_ANNIVERSARY: POLICY_ANNIVERSARY\nBEFORE_RENEWAL: BEFORE_RENEWAL\nHIGH_VALUE: HIGH_VALUE\nCALLBACK: CALLBACK\nNEW_POLICY_INTEREST: NEW_POLICY_INTEREST', enum_type=VisitTrigger, max_length=24),
        ),
    ]
