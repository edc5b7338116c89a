"""Customised service plans (定制化服务, issue 16): what a customer told us in the needs
and risk-tolerance questionnaire, and the plan made from it — existing cover, gaps in
cover with the rule and facts behind each, suggested online products, service
suggestions — stored with the rule version, so a plan can be explained later exactly
as it was made. A customer's interest in a suggested product is one row per plan and
product (the database's unique pair), with the follow-up visit it put on the list.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer
    from models.policies import Product
    from models.visits import FollowUpVisit


class ServicePlan(Entity):
    """A customised service plan, made from one questionnaire.

    A new questionnaire makes a new plan (the latest is the customer's).

    The JSON columns are snapshots in the shape ``workflows/policy_service/service_plans``
    writes them: ``answers`` (the questionnaire's keys), ``facts`` (what the rules read),
    ``existing_cover`` (the in-force policies then), ``gaps`` (code, product kind,
    priority, Chinese reason, the facts that fired it, suggested product ids) and
    ``services`` (code, title, text, facts)."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="service_plans", on_delete=fields.CASCADE, db_index=True
    )
    customer_id: uuid.UUID
    questionnaire_version = fields.CharField(max_length=16)
    rule_version = fields.CharField(max_length=16)
    answers: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    facts: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    existing_cover: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    gaps: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    services: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)

    interests: fields.ReverseRelation[ServicePlanInterest]

    class Meta:
        table = "service_plan"


class ServicePlanInterest(Entity):
    """A customer's interest in a product their plan suggests.

    Once per plan and product, however often or concurrently it is asked; ``visit`` is
    the follow-up task made with it (null only if the visit was removed later)."""

    plan: fields.ForeignKeyRelation[ServicePlan] = fields.ForeignKeyField(
        "models.ServicePlan", related_name="interests", on_delete=fields.CASCADE
    )
    plan_id: uuid.UUID
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name=False, on_delete=fields.RESTRICT
    )
    product_id: uuid.UUID
    visit: fields.ForeignKeyNullableRelation[FollowUpVisit] = fields.ForeignKeyField(
        "models.FollowUpVisit", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    visit_id: uuid.UUID | None

    class Meta:
        table = "service_plan_interest"
        unique_together = (("plan", "product"),)
