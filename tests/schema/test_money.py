"""``cny``: amounts to the cent, one ``Money`` shared per distinct amount (issue 19)."""

from decimal import Decimal

from schema.common import cny


def test_equal_amounts_share_one_money_written_to_the_cent() -> None:
    assert cny(Decimal("1.5")) is cny(Decimal("1.50"))
    assert str(cny(Decimal("1.5")).amount) == "1.50"
    assert str(cny(Decimal("2.005")).amount) == "2.00"  # half to even, as before sharing
    assert cny(Decimal("7")).currency == "CNY"


def test_zero_keeps_its_sign() -> None:
    """``-0`` equals ``0`` as a cache key but is written differently: never shared."""
    assert str(cny(Decimal("0")).amount) == "0.00"
    assert str(cny(Decimal("-0")).amount) == "-0.00"
    assert str(cny(Decimal("0.000")).amount) == "0.00"
