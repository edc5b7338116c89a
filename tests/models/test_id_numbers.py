"""One parser of resident ID numbers for every domain: the real-name rule reads the
18-character numbers of GB 11643 (check character verified), the claims' minor check also
reads the old 15-digit numbers of the 1900s."""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.services import Services
from models.id_numbers import Sex, age_on, parse_id_number
from models.policies import InsuredPerson
from tests.factories import id_number, make_customer, make_policy
from workflows.claims import reporting
from workflows.policy_service import identity

TODAY = date(2026, 12, 2)


def test_an_18_character_number_gives_birth_date_and_sex() -> None:
    number = id_number("310101", "20100203", "011")
    facts = parse_id_number(number, TODAY)
    assert facts is not None
    assert (facts.birth_date, facts.sex) == (date(2010, 2, 3), Sex.MALE)
    woman = parse_id_number(id_number("110101", "19851130", "022").lower(), TODAY)
    assert woman is not None and woman.sex is Sex.FEMALE
    assert woman.birth_date == date(1985, 11, 30)


def test_a_wrong_check_character_a_false_date_or_a_future_birth_is_refused() -> None:
    number = id_number("310101", "20100203", "011")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert parse_id_number(wrong, TODAY) is None
    assert parse_id_number(id_number("310101", "20100230", "011"), TODAY) is None
    assert parse_id_number(id_number("310101", "20270101", "011"), TODAY) is None
    assert parse_id_number("E12345678", TODAY, legacy=True) is None


def test_an_old_15_digit_number_is_read_only_when_asked() -> None:
    assert parse_id_number("110105800112123", TODAY) is None  # not for new applications
    facts = parse_id_number("110105800112123", TODAY, legacy=True)
    assert facts is not None
    assert (facts.birth_date, facts.sex) == (date(1980, 1, 12), Sex.MALE)
    her = parse_id_number("110105651231124", TODAY, legacy=True)
    assert her is not None and (her.birth_date, her.sex) == (date(1965, 12, 31), Sex.FEMALE)
    assert parse_id_number("110105801312123", TODAY, legacy=True) is None  # month 13


def test_whole_years_of_age() -> None:
    assert age_on(date(2008, 12, 3), TODAY) == 17
    assert age_on(date(2008, 12, 2), TODAY) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_the_policy_service_and_the_claims_read_with_the_same_parser() -> None:
    assert identity.parse_id_number is parse_id_number
    assert identity.age_on is age_on
    assert reporting.parse_id_number is parse_id_number


async def test_a_claim_reads_a_minor_from_18_and_an_adult_from_15_digits(
    services: Services,
) -> None:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    person = await InsuredPerson.get(policy_id=policy.id)
    loss = datetime(2026, 12, 1, 4, tzinfo=UTC)
    for number, expected in (
        (id_number("310101", "20100203", "011"), reporting.Age.MINOR),
        (id_number("310101", "20081130", "011"), reporting.Age.ADULT),  # 18 on 30 Nov
        ("110105800112123", reporting.Age.ADULT),
        ("110105800112", reporting.Age.UNKNOWN),
    ):
        person.id_number_encrypted = services.pii.seal_id_number(number).encrypted
        assert reporting._age_on(services.pii, person, loss) is expected, number
