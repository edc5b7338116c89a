"""The real-name rule (实名制) for holders, insured persons and named beneficiaries.

An ID number (居民身份证号码) is checked locally first: 18 characters, a known birth date
and the ISO 7064 MOD 11-2 check character of GB 11643-1999; the birth date and sex it
encodes must match what the applicant states. Then a real-name verification provider
(公安身份核验) confirms that the name belongs to the number: a small Protocol with a
sandbox default, wired in ``api/services.py`` and passed down to the one call that
needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from models.pii import ID_NUMBER_PATTERN, normalize_id_number

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


class Sex(StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


@dataclass(frozen=True)
class IdentityFacts:
    """What a valid ID number says about its holder."""

    id_number: str
    birth_date: date
    sex: Sex


def check_character(body: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def parse_id_number(raw: str, today: date) -> IdentityFacts | None:
    """The facts of a well-formed ID number, or None: wrong length or characters, a
    birth date that does not exist or lies in the future, or a wrong check character."""
    number = normalize_id_number(raw)
    if not ID_NUMBER_PATTERN.match(number):
        return None
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None
    if birth > today or birth.year < 1900:
        return None
    if check_character(number[:17]) != number[17]:
        return None
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE
    return IdentityFacts(number, birth, sex)


def age_on(birth: date, day: date) -> int:
    """Whole years of age on ``day`` (周岁)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


class RealNameVerifier(Protocol):
    """A real-name verification provider: does this name belong to this ID number?"""

    async def verify(self, name: str, id_number: str) -> bool: ...


class SandboxRealName:
    """The embedded default: every well-formed number belongs to its stated name,
    except names beginning with 冒用 (misused), so the refusal can be tried by hand."""

    async def verify(self, name: str, id_number: str) -> bool:
        return not name.startswith("冒用")
