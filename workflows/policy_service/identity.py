"""The real-name rule (实名制) for holders, insured persons and named beneficiaries.

An ID number (居民身份证号码) is checked locally first: 18 characters, a known birth date
and the ISO 7064 MOD 11-2 check character of GB 11643-1999; the birth date and sex it
encodes must match what the applicant states. Then a real-name verification provider
(公安身份核验) confirms that the name belongs to the number: a small Protocol with a
sandbox default, wired in ``api/services.py`` and passed down to the one call that
needs it.
"""

from __future__ import annotations

from typing import Protocol

# One parser of ID numbers for every domain (the claims' age check reads old 15-digit
# numbers with it too): re-exported here, where the real-name rule uses it.
from models.id_numbers import (
    CHECK_CHARACTERS,
    WEIGHTS,
    IdentityFacts,
    Sex,
    age_on,
    check_character,
    parse_id_number,
)

__all__ = [
    "CHECK_CHARACTERS",
    "WEIGHTS",
    "IdentityFacts",
    "RealNameVerifier",
    "SandboxRealName",
    "Sex",
    "age_on",
    "check_character",
    "parse_id_number",
]


class RealNameVerifier(Protocol):
    """A real-name verification provider: does this name belong to this ID number?"""

    async def verify(self, name: str, id_number: str) -> bool: ...


class SandboxRealName:
    """The embedded default: every well-formed number belongs to its stated name,
    except names beginning with 冒用 (misused), so the refusal can be tried by hand."""

    async def verify(self, name: str, id_number: str) -> bool:
        return not name.startswith("冒用")
