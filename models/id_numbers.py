"""What a resident ID number (居民身份证号码) says: birth date and sex, for every domain that
reads them — the real-name rule of the policy service, a claim's minor/adult check.

Two formats: the 18-character number of GB 11643-1999 (birth date ``YYYYMMDD`` at 7–14, a
sex digit at 17, the ISO 7064 MOD 11-2 check character last), and the old 15-digit
number (birth date ``YYMMDD`` of the 1900s at 7–12, sex in the last digit, no check
character), issued until 1999 and no longer valid since 2013 but still on old records.
Kept models-side, beside the masking of the same numbers in ``models.pii``, so both
workflows domains read one parser without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from models.pii import ID_NUMBER_PATTERN, normalize_id_number

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
LEGACY_PATTERN = re.compile(r"^\d{15}$")


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


def _birth(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_id_number(raw: str, today: date, *, legacy: bool = False) -> IdentityFacts | None:
    """The facts of a well-formed ID number, or None: wrong length or characters, a
    birth date that does not exist or lies in the future, or a wrong check character.
    ``legacy``: also read an old 15-digit number (records, not new applications)."""
    number = normalize_id_number(raw)
    if ID_NUMBER_PATTERN.match(number):
        if check_character(number[:17]) != number[17]:
            return None
        birth, sex_digit = _birth(number[6:10], number[10:12], number[12:14]), number[16]
    elif legacy and LEGACY_PATTERN.match(number):
        birth, sex_digit = _birth("19" + number[6:8], number[8:10], number[10:12]), number[14]
    else:
        return None
    if birth is None or birth > today or birth.year < 1900:
        return None
    return IdentityFacts(number, birth, Sex.MALE if int(sex_digit) % 2 == 1 else Sex.FEMALE)


def age_on(birth: date, day: date) -> int:
    """Whole years of age on ``day`` (周岁); born on 29 February, a year is complete on
    1 March in a common year."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years
