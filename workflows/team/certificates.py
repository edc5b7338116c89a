"""Training and certification: courses, certificates with expiry, and the permissions
that need one (data: ``CertificateRequirement``, permission → certificate kind).

An expired or revoked certificate withholds every permission that requires it: the
actor is built with ``withheld`` on every request (``WITHHELD_JOIN``, inside the one
statement that authenticates it; ``withheld_permissions`` at login), so ``Actor.can``
refuses at once, in GraphQL and in every workflow check.
A permission without a requirement row needs no certificate (so staff of a deployment
that configured none keep their role's permissions). ``TEAM_MANAGE`` cannot be made to
need one: the administrator who grants certificates must never lock themselves out.

30 days before expiry the holder and their team's supervisor are told once per
certificate: the ``CertificateWarning`` row's unique key decides between workers.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.clock import local_today
from models.staff import StaffUser
from models.team import (
    Certificate,
    CertificateKind,
    CertificateRequirement,
    CertificateWarning,
    Course,
    TeamMember,
)
from push.outbox import emit
from workflows.access import Actor, Permission
from workflows.jobs import HOUR, Job, JobDeps
from workflows.team.rules import CERTIFICATE_NAMES, WARN_DAYS, TeamError
from workflows.team.rules import TeamErrorCode as E

log = logging.getLogger("anxin.team")
STAFF_CHANNEL = "staff:team"
UNREQUIRABLE = frozenset({Permission.TEAM_MANAGE})
MAX_VALID_MONTHS = 120


def valid_certificates(today: date | None = None) -> QuerySet[Certificate]:
    """Holders of each unexpired, unrevoked certificate (for filters)."""
    return Certificate.filter(revoked_at=None, expires_on__gte=today or local_today())


async def withheld_permissions(
    staff_id: uuid.UUID, today: date | None = None
) -> frozenset[Permission]:
    """The permissions whose required certificate ``staff_id`` does not hold valid today
    (Asia/Shanghai; ``expires_on`` is the last valid day)."""
    held = valid_certificates(today).filter(staff_id=staff_id).values("kind")
    missing = await CertificateRequirement.exclude(kind__in=Subquery(held)).values_list(
        "permission", flat=True
    )
    return known_permissions([str(p) for p in missing])


# The same rule as one SQL join, for the statement that authenticates a request
# (workflows/auth): joined to a row source aliased ``staff``, one row per permission
# withheld from that staff member, none when ``staff.id`` is null; ``:today`` is the
# Shanghai date.
WITHHELD_JOIN = """
LEFT JOIN certificate_requirement withheld
       ON staff.id IS NOT NULL AND withheld.kind NOT IN (
          SELECT held.kind FROM staff_certificate held
          WHERE held.staff_id = staff.id AND held.revoked_at IS NULL
            AND held.expires_on >= :today)
"""


def known_permissions(names: list[str]) -> frozenset[Permission]:
    """The permissions among ``names`` (a requirement row may name one since removed)."""
    return frozenset(Permission(p) for p in names if p in Permission._value2member_map_)


async def required_kind(permission: Permission) -> CertificateKind | None:
    return await CertificateRequirement.get_or_none(permission=permission.value).values_list(
        "kind", flat=True
    )  # type: ignore[return-value]


async def set_requirement(
    actor: Actor, permission: Permission, kind: CertificateKind | None
) -> CertificateRequirement | None:
    """Make ``permission`` need a valid certificate of ``kind`` (None: need none)."""
    if permission in UNREQUIRABLE:
        raise TeamError(E.INVALID, "该权限不能要求资格证书", "permission")
    async with in_transaction():
        await CertificateRequirement.filter(permission=permission.value).delete()
        if kind is None:
            return None
        row = await CertificateRequirement.create(permission=permission.value, kind=kind)
    log.info("staff %s: %s now requires %s", actor.subject_id, permission.value, kind.value)
    return row


# The courses offered (data, written on first use): passing one grants its certificate.
DEFAULT_COURSES = (
    ("CLAIMS_ADJUSTER_BASIC", "理赔员资格培训", CertificateKind.CLAIMS_ADJUSTER, 24),
    ("UNDERWRITER_BASIC", "核保资格培训", CertificateKind.UNDERWRITER, 24),
    ("COMPLAINT_HANDLING", "投诉处理培训", CertificateKind.COMPLAINT_HANDLER, 12),
    ("SERVICE_BASICS", "客户服务基础培训", CertificateKind.SERVICE_BASICS, 36),
)


async def ensure_courses() -> None:
    """Write the default courses once (concurrent first calls: the unique code decides)."""
    if await Course.all().count() >= len(DEFAULT_COURSES):
        return
    for code, name, kind, months in DEFAULT_COURSES:
        try:
            await Course.get_or_create(
                code=code,
                defaults={"name": name, "certificate_kind": kind, "valid_months": months},
            )
        except IntegrityError:
            continue


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


async def grant_certificate(
    actor: Actor,
    staff_id: uuid.UUID,
    kind: CertificateKind | None,
    *,
    course_id: uuid.UUID | None = None,
    issued_on: date | None = None,
    expires_on: date | None = None,
) -> Certificate:
    """Record a certificate: passing a course (its validity counts from ``issued_on``)
    or a qualification from outside with its own expiry."""
    if not await StaffUser.exists(id=staff_id):
        raise TeamError(E.NOT_FOUND, "未找到该员工", "staffId")
    issued = issued_on or local_today()
    course = None
    if course_id is not None:
        course = await Course.get_or_none(id=course_id)
        if course is None:
            raise TeamError(E.NOT_FOUND, "未找到该课程", "courseId")
        if kind is not None and kind is not course.certificate_kind:
            raise TeamError(E.INVALID, "证书类型与课程不符", "kind")
        kind = course.certificate_kind
        expires_on = expires_on or _add_months(issued, course.valid_months) - timedelta(days=1)
    if kind is None:
        raise TeamError(E.INVALID, "请选择证书类型或课程", "kind")
    if expires_on is None or not issued <= expires_on <= _add_months(issued, MAX_VALID_MONTHS):
        raise TeamError(E.OUT_OF_RANGE, "有效期应在发证日之后且不超过十年", "expiresOn")
    async with in_transaction():
        # Under the staff row lock: a double press (same kind, issue and expiry) returns
        # the certificate the first one recorded.
        await StaffUser.select_for_update().get(id=staff_id)
        same = await Certificate.get_or_none(
            staff_id=staff_id, kind=kind, issued_on=issued, expires_on=expires_on, revoked_at=None
        )
        if same is not None:
            return same
        return await Certificate.create(
            staff_id=staff_id,
            kind=kind,
            course=course,
            number=f"ZS{issued:%Y%m%d}{uuid.uuid4().hex[:10].upper()}",
            issued_on=issued,
            expires_on=expires_on,
            granted_by=actor.subject_id,
        )


async def revoke_certificate(actor: Actor, certificate_id: uuid.UUID) -> Certificate:
    """Withdraw a certificate now (the permissions it carries go with the next request)."""
    if not await Certificate.filter(id=certificate_id, revoked_at=None).update(
        revoked_at=datetime.now(UTC)
    ) and not await Certificate.exists(id=certificate_id):
        raise TeamError(E.NOT_FOUND, "未找到该证书", "certificateId")
    log.info("staff %s revoked certificate %s", actor.subject_id, certificate_id)
    return await Certificate.get(id=certificate_id)


async def warn_expiring(today: date | None = None) -> int:
    """Tell the holder and their supervisor about each certificate that expires within
    ``WARN_DAYS``, once per certificate (a renewal is a new certificate and is warned
    on its own); the number of warnings sent."""
    today = today or local_today()
    due = await Certificate.filter(
        revoked_at=None,
        expires_on__gte=today,
        expires_on__lte=today + timedelta(days=WARN_DAYS),
    ).exclude(id__in=Subquery(CertificateWarning.all().values("certificate_id")))
    sent = 0
    for certificate in due:
        try:
            async with in_transaction():
                await CertificateWarning.create(certificate_id=certificate.id)
                await _announce_expiry(certificate, today)
        except IntegrityError:
            continue  # another worker warned first
        sent += 1
    return sent


async def _announce_expiry(certificate: Certificate, today: date) -> None:
    membership = await TeamMember.get_or_none(staff_id=certificate.staff_id).select_related("team")
    supervisor = membership.team.supervisor_id if membership else None
    days = (certificate.expires_on - today).days
    name = CERTIFICATE_NAMES[certificate.kind]
    await emit(
        "staff.certificate_expiring",
        entity_type="staff_certificate",
        entity_id=certificate.id,
        customer_id=None,
        payload={
            "channel": STAFF_CHANNEL,
            "staff_ids": [str(s) for s in (certificate.staff_id, supervisor) if s],
            "staff_id": str(certificate.staff_id),
            "supervisor_id": str(supervisor) if supervisor else None,
            "kind": certificate.kind.value,
            "expires_on": certificate.expires_on.isoformat(),
            "text": f"您的{name}（{certificate.number}）将于{days}天后到期，请及时参加复训",
        },
    )


async def _warn(_deps: JobDeps) -> int:
    return await warn_expiring()


JOBS = (Job("certificate-expiry-warnings", HOUR, _warn, first_after=90.0),)
