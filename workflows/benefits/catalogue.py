"""The catalogue staff manage (BENEFIT_MANAGE): partners and the services they deliver,
who is entitled and the yearly quotas. A change is made at the version the editor saw."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.benefits import BenefitService, BookingMethod, Partner, PartnerKind, ServiceKind
from models.membership import MemberTier
from models.policies import ProductKind
from workflows.benefits.errors import BenefitError, BenefitErrorCode

CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
MAX_QUOTA = 100
MAX_PRODUCT_CODES = 20


@dataclass(frozen=True)
class PartnerChange:
    code: str
    name: str
    kind: PartnerKind
    base_url: str | None
    active: bool = True


@dataclass(frozen=True)
class ServiceChange:
    code: str
    name: str
    description: str
    kind: ServiceKind
    partner_id: uuid.UUID
    tiers: list[MemberTier]
    product_kinds: list[ProductKind]
    product_codes: list[str]
    yearly_quota: int
    booking_method: BookingMethod
    active: bool = True


def _invalid(message: str, field: str) -> BenefitError:
    return BenefitError(BenefitErrorCode.INVALID_INPUT, message, field)


def _check_code(code: str) -> str:
    if not CODE.match(code):
        raise _invalid("代码须为2到32位大写字母、数字或下划线，以字母开头", "code")
    return code


def _check_name(name: str, limit: int = 64) -> str:
    name = name.strip()
    if not 1 <= len(name) <= limit:
        raise _invalid(f"名称须为1到{limit}个字符", "name")
    return name


def check_base_url(url: str | None) -> str | None:
    """An http(s) URL without credentials, query or fragment; None or empty: the sandbox."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if (
        len(url) > 200
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
    ):
        raise _invalid("接口地址须为不含账号、参数的 http(s) 地址，不超过200个字符", "baseUrl")
    return url.rstrip("/")


async def _bump(
    model: type[Partner] | type[BenefitService],
    row_id: uuid.UUID,
    version: int,
    values: dict[str, object],
) -> None:
    changed = await model.filter(id=row_id, version=version).update(
        **values, version=F("version") + 1
    )
    if not changed:
        raise BenefitError(BenefitErrorCode.VERSION_CONFLICT, "已被他人修改，请刷新后重试")


async def save_partner(
    change: PartnerChange, partner_id: uuid.UUID | None, expected_version: int | None
) -> Partner:
    """Create a partner (no id) or change one at ``expected_version``."""
    values: dict[str, Any] = {
        "code": _check_code(change.code),
        "name": _check_name(change.name),
        "kind": change.kind,
        "base_url": check_base_url(change.base_url),
        "active": change.active,
    }
    try:
        if partner_id is None:
            return await Partner.create(**values)
        if await Partner.get_or_none(id=partner_id) is None:
            raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该合作机构", "partnerId")
        await _bump(Partner, partner_id, expected_version or 0, values)
    except IntegrityError:
        raise BenefitError(
            BenefitErrorCode.DUPLICATE_CODE, "该代码已被其他合作机构使用", "code"
        ) from None
    return await Partner.get(id=partner_id)


async def save_service(
    change: ServiceChange, service_id: uuid.UUID | None, expected_version: int | None
) -> BenefitService:
    """Create a service (no id) or change one at ``expected_version``. Quotas already used
    this year stay used; a lower quota only stops new bookings."""
    if not 1 <= change.yearly_quota <= MAX_QUOTA:
        raise _invalid(f"年度次数须为1到{MAX_QUOTA}", "yearlyQuota")
    codes = sorted({c.strip() for c in change.product_codes if c.strip()})
    if len(codes) > MAX_PRODUCT_CODES or any(len(c) > 32 for c in codes):
        raise _invalid(f"产品代码最多{MAX_PRODUCT_CODES}个，每个不超过32个字符", "productCodes")
    if not (change.tiers or change.product_kinds or codes):
        raise _invalid("请至少指定一个会员等级、产品类型或产品", "tiers")
    if len(change.description) > 1000:
        raise _invalid("说明不超过1000个字符", "description")
    partner = await Partner.get_or_none(id=change.partner_id)
    if partner is None:
        raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该合作机构", "partnerId")
    values: dict[str, Any] = {
        "code": _check_code(change.code),
        "name": _check_name(change.name),
        "description": change.description.strip(),
        "kind": change.kind,
        "partner_id": partner.id,
        "tiers": sorted({t.value for t in change.tiers}),
        "product_kinds": sorted({k.value for k in change.product_kinds}),
        "product_codes": codes,
        "yearly_quota": change.yearly_quota,
        "booking_method": change.booking_method,
        "active": change.active,
    }
    try:
        async with in_transaction():
            if service_id is None:
                return await BenefitService.create(**values)
            if await BenefitService.get_or_none(id=service_id) is None:
                raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该服务", "serviceId")
            await _bump(BenefitService, service_id, expected_version or 0, values)
    except IntegrityError:
        raise BenefitError(
            BenefitErrorCode.DUPLICATE_CODE, "该代码已被其他服务使用", "code"
        ) from None
    return await BenefitService.get(id=service_id)
