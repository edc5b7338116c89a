"""Why a staff change of the promises catalogue was refused (one code enum per domain)."""

from __future__ import annotations

from enum import StrEnum

from workflows.errors import DomainError


class CommitmentErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"  # changed by someone else meanwhile: reload and try again
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOT_MEASURED_SO = "NOT_MEASURED_SO"  # minutes for a promise counted in working days
    TITLE_STATES_OLD_TERMS = "TITLE_STATES_OLD_TERMS"  # 承诺60分钟… after changing it to 45
    TOO_LONG = "TOO_LONG"


class CommitmentError(DomainError):
    codes = CommitmentErrorCode
