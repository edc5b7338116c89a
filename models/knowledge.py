"""The service assistant's knowledge base (issue 15): FAQ entries with question variants,
their source and a review life (draft → in review → published → retired), every
published text kept as a version; what the assistant answered (for figures and thumbs
up/down), and the questions it could not answer, grouped by near-duplicates.

``version`` increments on every change of an entry: an edit names the version it saw,
so two supervisors editing at once cannot both win.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer


class EntryStatus(StrEnum):
    DRAFT = "DRAFT"
    IN_REVIEW = "IN_REVIEW"
    PUBLISHED = "PUBLISHED"
    RETIRED = "RETIRED"


class SourceKind(StrEnum):
    """What an answer rests on: a policy clause, a product's terms, or a rule (law,
    regulation, the insurer's own service rule)."""

    CLAUSE = "CLAUSE"
    PRODUCT = "PRODUCT"
    RULE = "RULE"


class UnansweredReason(StrEnum):
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    HANDOFF = "HANDOFF"
    THUMBS_DOWN = "THUMBS_DOWN"


class KnowledgeEntry(Entity):
    """One FAQ entry. The assistant answers from its published version only."""

    code = fields.CharField(max_length=32, unique=True)  # KB-0001, stable for links
    category = fields.CharField(max_length=32, db_index=True)
    question = fields.CharField(max_length=200)
    variants: fields.JSONField[list[str]] = fields.JSONField(default=list)
    answer = fields.TextField()
    source_kind = fields.CharEnumField(SourceKind, max_length=16)
    source_ref = fields.CharField(max_length=200, default="")  # clause, product code, rule
    product_code = fields.CharField(max_length=32, null=True)  # when about one product
    status = fields.CharEnumField(EntryStatus, max_length=16, db_index=True)
    version = fields.IntField(default=1)
    published_version = fields.IntField(null=True)  # the version customers are answered from
    helpful = fields.IntField(default=0)  # thumbs up, counted when given
    unhelpful = fields.IntField(default=0)
    created_by = fields.UUIDField(null=True)  # staff; None: loaded with the demo or seed
    updated_at = fields.DatetimeField(auto_now=True)

    versions: fields.ReverseRelation[KnowledgeVersion]

    class Meta:
        table = "knowledge_entry"


class KnowledgeVersion(Entity):
    """The entry as it was at one version: every edit and status change is kept."""

    entry: fields.ForeignKeyRelation[KnowledgeEntry] = fields.ForeignKeyField(
        "models.KnowledgeEntry", related_name="versions", on_delete=fields.CASCADE, db_index=True
    )
    entry_id: uuid.UUID
    version = fields.IntField()
    status = fields.CharEnumField(EntryStatus, max_length=16)
    category = fields.CharField(max_length=32)
    question = fields.CharField(max_length=200)
    variants: fields.JSONField[list[str]] = fields.JSONField(default=list)
    answer = fields.TextField()
    editor_id = fields.UUIDField(null=True)
    note = fields.CharField(max_length=200, default="")

    class Meta:
        table = "knowledge_version"
        unique_together = (("entry", "version"),)


class AssistantAnswer(Entity):
    """One reply of the assistant: what it recognised and whether it handed off, for the
    figures, and the customer's thumbs up or down, once."""

    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="assistant_answers", null=True, on_delete=fields.SET_NULL
    )
    customer_id: uuid.UUID | None
    question = fields.CharField(max_length=500)  # personal numbers masked
    intent = fields.CharField(max_length=32, db_index=True)
    confidence = fields.FloatField()
    handoff = fields.CharField(max_length=24, null=True)
    entry: fields.ForeignKeyNullableRelation[KnowledgeEntry] = fields.ForeignKeyField(
        "models.KnowledgeEntry", related_name="answers", null=True, on_delete=fields.SET_NULL
    )
    entry_id: uuid.UUID | None
    helpful = fields.BooleanField(null=True)  # None: not rated

    class Meta:
        table = "assistant_answer"


class UnansweredQuestion(Entity):
    """A question the assistant could not answer well, kept for the knowledge base's
    editors. ``cluster`` groups near-duplicates (the first question of the group)."""

    text = fields.CharField(max_length=500)
    normalized = fields.CharField(max_length=500)  # tokens joined, for clustering
    reason = fields.CharEnumField(UnansweredReason, max_length=16)
    intent = fields.CharField(max_length=32)
    cluster: fields.ForeignKeyNullableRelation[UnansweredQuestion] = fields.ForeignKeyField(
        "models.UnansweredQuestion", related_name="members", null=True, on_delete=fields.SET_NULL
    )
    cluster_id: uuid.UUID | None
    resolved_by: fields.ForeignKeyNullableRelation[KnowledgeEntry] = fields.ForeignKeyField(
        "models.KnowledgeEntry", related_name="resolved", null=True, on_delete=fields.SET_NULL
    )
    resolved_by_id: uuid.UUID | None

    class Meta:
        table = "unanswered_question"
