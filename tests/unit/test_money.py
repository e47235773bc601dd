from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.money import Currency, CurrencyPrecision, InvalidAmount, UnknownCurrency


def test_exponents_follow_iso_4217():
    assert [Currency.of(c).exponent for c in ("EUR", "JPY", "KWD", "BHD", "usd")] == [2, 0, 3, 3, 2]
    with pytest.raises(UnknownCurrency):
        Currency.of("EURO")


def test_our_api_refuses_more_decimals_than_the_currency_has():
    assert Currency.of("EUR").parse_exact("5.90") == 590
    assert Currency.of("EUR").parse_exact("5.9") == 590
    assert Currency.of("EUR").parse_exact("5") == 500
    assert Currency.of("JPY").parse_exact("1000") == 1000
    assert Currency.of("KWD").parse_exact("1.250") == 1250
    with pytest.raises(CurrencyPrecision):
        Currency.of("EUR").parse_exact("5.905")
    with pytest.raises(CurrencyPrecision):
        Currency.of("JPY").parse_exact("10.5")
    with pytest.raises(CurrencyPrecision):
        Currency.of("EUR").parse_exact("5.900")
    with pytest.raises(CurrencyPrecision):
        Currency.of("JPY").parse_exact("1000.0")
    for bad in ("abc", "-1", "NaN", "Infinity"):
        with pytest.raises(InvalidAmount):
            Currency.of("EUR").parse_exact(bad)


def test_oms_amounts_round_half_up():
    eur = Currency.of("EUR")
    assert eur.to_minor(Decimal("0.005")) == 1
    assert eur.to_minor(Decimal("82.4793")) == 8248


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_format_and_parse_round_trip(minor, code):
    currency = Currency.of(code)
    assert currency.parse_exact(currency.format(minor)) == minor


@pytest.mark.parametrize("text", [
    "1e30", "1E2", "5e-1", "+5.00", "-0", " 5.00", "5.00 ", "5,00", ".5", "5.", "0x10", "",
    "1" * 16, "1" * 35, "1" * 16 + ".00", "٥", "5_000",
])
def test_an_amount_is_a_plain_decimal_of_at_most_fifteen_integer_digits(text):
    with pytest.raises(InvalidAmount):
        Currency.of("EUR").parse_exact(text)


def test_fifteen_integer_digits_are_enough():
    assert Currency.of("KWD").parse_exact("9" * 15 + ".999") == 10**18 - 1


@given(st.text(max_size=40))
def test_no_text_breaks_the_parser(text):
    try:
        minor = Currency.of("EUR").parse_exact(text)
    except (InvalidAmount, CurrencyPrecision):
        return
    assert 0 <= minor < 10**17
