"""The README's demo section says what the demo loads: the accounts in its tables and
the counts in its text come from the demo data itself (a new demo account, or a
changed one, fails here until the README says so)."""

from __future__ import annotations

import re
from pathlib import Path

from api import demo

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README[README.index("## Demo accounts") : README.index("## The `anxin` command")]
COUNTS = {"five": 5, "fifteen": 15, "six": 6}


def _first_column(header: str) -> list[str]:
    table = SECTION[SECTION.index(header) :].split("\n\n")[0]
    return [row.split("|")[1].strip() for row in table.splitlines()[2:]]


def test_the_customer_table_lists_the_demo_customers() -> None:
    phones = [person.phone for person in demo.PEOPLE.values() if person.phone]
    assert _first_column("| customer phone |") == phones
    names = {person.phone: person.name for person in demo.PEOPLE.values()}
    for row in SECTION[SECTION.index("| customer phone |") :].split("\n\n")[0].splitlines()[2:]:
        phone, name = (cell.strip() for cell in row.split("|")[1:3])
        assert names[phone] == name


def test_the_staff_table_lists_the_demo_staff_with_their_teams() -> None:
    assert _first_column("| staff username |") == [username for username, *_ in demo.STAFF]
    table = SECTION[SECTION.index("| staff username |") :].split("\n\n")[0]
    for username, name, role, team in demo.STAFF:
        row = next(r for r in table.splitlines() if r.startswith(f"| {username} |"))
        assert f"| {name} |" in row and role.value in row
        assert team is None or f"({team})" in row


def test_the_counts_in_the_text_are_the_demo_counts() -> None:
    said = {
        word: COUNTS[word]
        for word in re.findall(r"\b(five|fifteen|six)\b (?:products|policies|claims)", SECTION)
    }
    assert said == {"five": 5, "fifteen": 15, "six": 6}
    assert len(demo.PRODUCTS) == said["five"]
    assert len(demo.POLICIES) == said["fifteen"]
