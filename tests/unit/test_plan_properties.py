"""Appeasements planned one after another on random orders, in EUR, JPY and KWD: every split
adds up, net + tax = gross, tax credited never exceeds tax paid, no balance goes negative."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.domain.appeasement import AmountsAsk, LineAsk, LinesAsk, PercentAsk, plan
from service.domain.balance import ZERO, Amounts
from service.domain.errors import DomainError
from service.domain.money import Currency
from tests.unit.orders import balance_of, order_state

CURRENCIES = {"EUR": 2, "JPY": 0, "KWD": 3}
RATES = ["0", "7", "19", "21", "8.25"]


@st.composite
def orders(draw):
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    exponent = CURRENCIES[currency]
    store = draw(st.sampled_from(["eu-web", "us-web"]))
    lines = []
    for number in range(draw(st.integers(1, 4))):
        minor = draw(st.integers(min_value=1, max_value=5_000_000))
        rate = Decimal(draw(st.sampled_from(RATES)))
        tax_minor = int((Decimal(minor) * rate / (100 + rate)).to_integral_value())
        gross = Decimal(minor).scaleb(-exponent)
        tax = Decimal(tax_minor).scaleb(-exponent)
        kind = draw(st.sampled_from(["PHYSICAL", "PHYSICAL", "SHIPPING", "HANDLING"]))
        lines.append((f"L{number + 1}", kind, str(gross), str(tax), str(rate),
                      draw(st.integers(1, 3))))
    return order_state(lines, currency=currency, store=store)


def asks(balance, draw):
    line_ids = [line.line.line_id for line in balance.lines]
    creditable = sum(line.creditable.gross for line in balance.lines)
    amount = draw(st.integers(min_value=1, max_value=max(1, creditable)))
    return draw(st.sampled_from([
        AmountsAsk({"product": amount}),
        AmountsAsk({"overage": amount}),
        AmountsAsk({"shipping": amount}),
        AmountsAsk({"tax": max(1, amount // 10)}),
        PercentAsk(Decimal(draw(st.integers(1, 100))), draw(st.booleans())),
        LinesAsk((LineAsk(draw(st.sampled_from(line_ids)), amount=max(1, amount // 3)),)),
        LinesAsk((LineAsk(draw(st.sampled_from(line_ids)),
                          percent=Decimal(draw(st.integers(1, 100)))),)),
    ]))


@settings(max_examples=200, deadline=None)
@given(orders(), st.data())
def test_successive_appeasements_never_credit_more_than_was_paid(state, data):
    appeased: dict[str, Amounts] = {}
    granted = 0
    for _ in range(data.draw(st.integers(1, 6))):
        balance = balance_of(state, appeased)
        ask = asks(balance, data.draw)
        try:
            allocation = plan(balance, ask)
        except DomainError:
            continue
        granted += 1
        # every piece is whole: net + tax = gross, tax within gross, nothing negative
        for piece in allocation.pieces:
            assert piece.gross > 0 or piece.tax > 0
            assert 0 <= piece.tax <= piece.gross
            assert piece.net + piece.tax == piece.gross
        # what was asked is what was allocated (gross under gross taxation, net under net)
        if isinstance(ask, AmountsAsk) and "tax" not in ask.amounts:
            asked = sum(ask.amounts.values())
            total = allocation.total
            assert (total.net if balance.order.taxation == "net" else total.gross) == asked
        for piece in allocation.pieces:
            appeased[piece.order_line] = appeased.get(piece.order_line, ZERO) + Amounts(
                piece.gross, piece.tax
            )
    # then, per line, nothing beyond what was paid, tax included, and no negative balance
    final = balance_of(state, appeased)
    for line in final.lines:
        credited = appeased.get(line.line.line_id, ZERO)
        assert credited.gross <= line.paid.gross
        assert credited.tax <= line.paid.tax
        assert line.creditable.gross >= 0 and line.creditable.tax >= 0
    assume(granted > 0)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CURRENCIES)), st.integers(1, 10_000_000), st.sampled_from(RATES),
       st.lists(st.integers(1, 100), min_size=1, max_size=8))
def test_gross_tax_rounded_on_the_running_total_stays_within_one_unit(
    currency, paid_minor, rate, percents
):
    # given one line paid in full under gross taxation
    exponent = CURRENCIES[currency]
    rate_value = Decimal(rate)
    tax_paid = int((Decimal(paid_minor) * rate_value / (100 + rate_value)).to_integral_value())
    state = order_state([("L1", "PHYSICAL", str(Decimal(paid_minor).scaleb(-exponent)),
                          str(Decimal(tax_paid).scaleb(-exponent)), rate)], currency=currency)
    # when several percentages of what is left are credited one after another
    appeased = ZERO
    for percent in percents:
        balance = balance_of(state, {"L1": appeased})
        try:
            allocation = plan(balance, LinesAsk((LineAsk("L1", percent=Decimal(percent)),)))
        except DomainError:
            break
        appeased = appeased + allocation.total
    # then the tax credited is the tax of the total credited, rounded once, never above paid
    exact = Decimal(appeased.gross) * rate_value / (100 + rate_value)
    assert abs(appeased.tax - exact) <= 1
    assert appeased.tax <= tax_paid
    assert Currency.of(currency).exponent == exponent
