"""The stored rules: read (the default written once), and changed by staff with
MEMBERSHIP_MANAGE at the version they saw (two editors at once: one wins)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.membership import MembershipRuleSet
from workflows.access import Actor, Permission
from workflows.membership.rules import (
    DEFAULT_RULES,
    E,
    MembershipError,
    Rules,
    from_document,
    to_document,
    validate,
)

CODE = "default"


async def rule_set() -> MembershipRuleSet:
    """The stored rules row; the defaults are written the first time (by code)."""
    found = await MembershipRuleSet.get_or_none(code=CODE)
    if found is not None:
        return found
    try:
        async with in_transaction():
            await MembershipRuleSet.bulk_create(
                [
                    MembershipRuleSet(
                        id=uuid.uuid4(), code=CODE, document=to_document(DEFAULT_RULES)
                    )
                ],
                ignore_conflicts=True,
            )
    except IntegrityError:  # written concurrently: fine
        pass
    return await MembershipRuleSet.get(code=CODE)


async def current_rules() -> Rules:
    return from_document((await rule_set()).document)


async def update_rules(actor: Actor, expected_version: int, rules: Rules) -> MembershipRuleSet:
    """Replace the rules; checked whole first, so bad input changes nothing. Customers
    are recomputed by the nightly job (or on their next event) with the new rules."""
    if not actor.is_staff or not actor.can(Permission.MEMBERSHIP_MANAGE):
        raise MembershipError(E.NOT_ALLOWED, "没有进行此操作的权限")
    validate(rules)
    row = await rule_set()
    changed = await MembershipRuleSet.filter(id=row.id, version=expected_version).update(
        document=to_document(rules),
        version=F("version") + 1,
        updated_by=actor.subject_id,
        updated_at=datetime.now(UTC),
    )
    if not changed:
        raise MembershipError(E.CONFLICT, "会员规则已被他人更新，请刷新后重试", "expectedVersion")
    await row.refresh_from_db()
    return row
