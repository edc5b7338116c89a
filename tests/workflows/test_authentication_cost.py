"""A request's authentication costs one indexed read (issue 19): the session, the staff
member's role and active flag and the permissions their missing certificates withhold
come from one statement, for ``authenticate`` and for the WebSocket recheck alike, and
every rule still holds (revoked session, disabled or demoted staff, expired
certificate)."""

from __future__ import annotations

from datetime import timedelta

from api.services import Services
from models.auth import SubjectKind
from models.clock import local_today
from models.staff import StaffRole, StaffUser
from models.team import Certificate, CertificateKind
from tests.factories import make_customer, make_staff
from tests.sql_counter import counting_statements
from workflows import auth
from workflows.access import ANONYMOUS, Actor, Permission
from workflows.auth import Channel, authenticate, start_session, still_valid
from workflows.team import certificates

ADMIN = Actor(kind=SubjectKind.STAFF, role=StaffRole.ADMIN)


async def counted_authentication(services: Services, token: str) -> tuple[Actor, int]:
    with counting_statements() as counter:
        actor = await authenticate(services, token)
    return actor, len(counter.statements)


async def counted_recheck(actor: Actor) -> tuple[Actor, int]:
    with counting_statements() as counter:
        current = await still_valid(actor)
    return current, len(counter.statements)


async def test_a_customer_is_authenticated_with_one_statement(services: Services) -> None:
    customer = await make_customer(services)
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    actor, statements = await counted_authentication(services, tokens.access_token)
    assert (actor.subject_id, actor.session_id, statements) == (
        customer.id,
        tokens.actor.session_id,
        1,
    )
    assert await counted_recheck(actor) == (actor, 1)
    await auth.logout(actor)
    assert await counted_authentication(services, tokens.access_token) == (ANONYMOUS, 1)
    assert await counted_recheck(actor) == (ANONYMOUS, 1)


async def test_staff_with_a_missing_certificate_cost_one_statement(services: Services) -> None:
    adjuster = await make_staff(StaffRole.ADJUSTER)
    await certificates.set_requirement(
        ADMIN, Permission.CLAIM_REVIEW, CertificateKind.CLAIMS_ADJUSTER
    )
    await certificates.set_requirement(ADMIN, Permission.CLAIM_READ, CertificateKind.UNDERWRITER)
    today = local_today()
    expired = await certificates.grant_certificate(
        ADMIN,
        adjuster.id,
        CertificateKind.CLAIMS_ADJUSTER,
        issued_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=1),
    )
    tokens = await start_session(
        services, SubjectKind.STAFF, adjuster.id, Channel.STAFF_CONSOLE, role=adjuster.role
    )
    actor, statements = await counted_authentication(services, tokens.access_token)
    assert statements == 1
    assert (actor.role, actor.withheld) == (
        StaffRole.ADJUSTER,
        {Permission.CLAIM_REVIEW, Permission.CLAIM_READ},
    )
    assert actor.can(Permission.POLICY_READ) and not actor.can(Permission.CLAIM_REVIEW)
    assert await counted_recheck(actor) == (actor, 1)

    await Certificate.filter(id=expired.id).update(expires_on=today)  # valid again today
    actor, statements = await counted_authentication(services, tokens.access_token)
    assert (actor.withheld, statements) == ({Permission.CLAIM_READ}, 1)

    await StaffUser.filter(id=adjuster.id).update(role=StaffRole.SUPERVISOR)  # promoted
    actor, _ = await counted_authentication(services, tokens.access_token)
    assert actor.role is StaffRole.SUPERVISOR
    await StaffUser.filter(id=adjuster.id).update(is_active=False)
    assert await counted_authentication(services, tokens.access_token) == (ANONYMOUS, 1)
    assert await counted_recheck(actor) == (ANONYMOUS, 1)
