"""The benefits domain's one error class and its codes."""

from __future__ import annotations

from enum import StrEnum

from workflows.errors import DomainError


class BenefitErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"  # no such service, booking or policy (or not yours)
    NOT_ENTITLED = "NOT_ENTITLED"  # neither the tier nor a policy in force includes it
    QUOTA_USED_UP = "QUOTA_USED_UP"  # this year's uses are taken
    NOT_A_CAR_POLICY = "NOT_A_CAR_POLICY"
    POLICY_NOT_IN_FORCE = "POLICY_NOT_IN_FORCE"
    INVALID_INPUT = "INVALID_INPUT"  # too long, out of range, wrong format
    INVALID_TIME = "INVALID_TIME"  # an appointment in the past or too far ahead
    INVALID_LOCATION = "INVALID_LOCATION"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"  # already done, cancelled or under way
    PARTNER_UNAVAILABLE = "PARTNER_UNAVAILABLE"  # the partner could not take it now
    PARTNER_REJECTED = "PARTNER_REJECTED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # withdrawn from the catalogue
    VERSION_CONFLICT = "VERSION_CONFLICT"  # someone changed it since you read it
    DUPLICATE_CODE = "DUPLICATE_CODE"
    THROTTLED = "THROTTLED"


class BenefitError(DomainError):
    codes = BenefitErrorCode
