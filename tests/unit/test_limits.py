"""Limits that splitting, overage or approving cannot walk around, on the pure domain."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.adapters.policy_file import load_policy
from service.domain.appeasement import AmountsAsk, LineAsk, LinesAsk
from service.domain.approval import check_may_decide
from service.domain.balance import Amounts
from service.domain.errors import DomainError
from service.domain.grant import decide
from service.domain.policy import Already
from service.service_layer.views import goodwill_units
from tests.unit.orders import TABLE_ORDER, balance_of, order_state

POLICY = load_policy(Path(__file__).resolve().parents[2] / "policy.toml")
THOUSAND = [
    ("L1", "PHYSICAL", "900.00", "156.20", "21"),
    ("L2", "SHIPPING", "100.00", "17.36", "21"),
]


def code_of(call) -> str:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code


def test_overage_lands_only_on_the_buckets_the_reason_allows():
    # given a late parcel: DELIVERY_DELAYED allows shipping, handling and overage, not product
    balance = balance_of(order_state(TABLE_ORDER))
    # when an overage of 5.00 is asked
    decision = decide(balance, AmountsAsk({"overage": 500}), reason_code="DELIVERY_DELAYED",
                      role_name="manager", policy=POLICY)
    # then all of it lands on the shipping line, none on the products
    assert {(p.order_line, p.bucket) for p in decision.allocation.pieces} == {("L3", "shipping")}
    assert decision.allocation.total.gross == 500


def test_overage_beyond_the_allowed_buckets_is_refused():
    balance = balance_of(order_state(TABLE_ORDER))
    assert code_of(lambda: decide(
        balance, AmountsAsk({"overage": 50000}), reason_code="DELIVERY_DELAYED",
        role_name="manager", policy=POLICY,
    )) == "EXCEEDS_TOTAL_CREDITABLE"


def test_overage_with_no_money_in_the_allowed_buckets_is_a_bucket_refusal():
    # given an order with products only
    balance = balance_of(order_state([("L1", "PHYSICAL", "100.00", "17.36", "21")]))
    # then an overage for a late parcel has nowhere to land
    assert code_of(lambda: decide(
        balance, AmountsAsk({"overage": 100}), reason_code="DELIVERY_DELAYED",
        role_name="manager", policy=POLICY,
    )) == "BUCKET_NOT_ALLOWED_FOR_REASON"


def test_a_reason_percentage_counts_what_the_reason_already_holds_on_the_order():
    # given a 1,000.00 order where CUSTOMER_COMPLAINT (30 %) already holds 600.00
    balance = balance_of(order_state(THOUSAND))
    ask = AmountsAsk({"product": 30000})
    # when a third 300.00 is asked, then the 30 % cap counts the 600.00 already there
    with pytest.raises(DomainError) as raised:
        decide(balance, ask, reason_code="CUSTOMER_COMPLAINT", role_name="manager",
               policy=POLICY, already=Already(for_reason=Decimal("600.00")))
    assert raised.value.code == "REASON_LIMIT_EXCEEDED"
    assert raised.value.details["already"] == "600.00"
    assert raised.value.details["requested"] == "300.00"
    assert raised.value.details["limit"] == "300.00"
    # and the first 300.00 passes
    assert decide(balance, ask, reason_code="CUSTOMER_COMPLAINT", role_name="manager",
                  policy=POLICY).status == "PENDINGRELEASE"


def test_a_reason_max_amount_is_cumulative():
    balance = balance_of(order_state(THOUSAND))
    assert code_of(lambda: decide(
        balance, AmountsAsk({"product": 20000}), reason_code="OTHER", role_name="manager",
        policy=POLICY, already=Already(for_reason=Decimal("400.00")),
    )) == "REASON_LIMIT_EXCEEDED"


def test_an_approval_counts_what_is_already_granted_on_the_order():
    # given a lead (2,500.00 per order) and 1,800.00 already granted on the order
    lead = POLICY.role("lead")
    # then approving another 900.00 is above the lead's own per-order limit
    with pytest.raises(DomainError) as raised:
        check_may_decide(lead, "lead-7", "agent-42", Decimal("900.00"),
                         Already(on_order=Decimal("1800.00")))
    assert raised.value.code == "ROLE_LIMIT_EXCEEDED"
    assert raised.value.details["which"] == "max_per_order"
    # and 700.00 fits
    check_may_decide(lead, "lead-7", "agent-42", Decimal("700.00"),
                     Already(on_order=Decimal("1800.00")))


def test_an_approval_counts_the_approvers_customer_window():
    approver = POLICY.role("lead").__class__(
        "lead", Decimal("1000"), None, True, "reject", Decimal("500.00"), 30
    )
    with pytest.raises(DomainError) as raised:
        check_may_decide(approver, "lead-7", "agent-42", Decimal("100.00"),
                         Already(for_customer=Decimal("450.00")))
    assert raised.value.details["which"] == "max_per_customer"


def test_a_line_named_twice_is_malformed():
    balance = balance_of(order_state(TABLE_ORDER))
    ask = LinesAsk((LineAsk("L1", amount=100), LineAsk("L1", percent=Decimal(5))))
    assert code_of(lambda: decide(
        balance, ask, reason_code="ARTICLE_DEFECTIVE", role_name="manager", policy=POLICY
    )) == "MALFORMED_REQUEST"


def test_unit_price_times_quantity_keeps_its_units():
    balance = balance_of(order_state(TABLE_ORDER))
    decision = decide(balance, LinesAsk((LineAsk("L2", unit_amount=500, quantity=2),)),
                      reason_code="ARTICLE_DEFECTIVE", role_name="manager", policy=POLICY)
    [piece] = decision.allocation.pieces
    assert (piece.gross, piece.quantity) == (1000, 2)


def test_the_accounting_hand_off_keeps_units():
    # given 5.00 x 2 units on a line under gross taxation
    balance = balance_of(order_state(TABLE_ORDER))
    decision = decide(balance, LinesAsk((LineAsk("L2", unit_amount=500, quantity=2),)),
                      reason_code="ARTICLE_DEFECTIVE", role_name="manager", policy=POLICY)
    [piece] = decision.allocation.pieces
    # then the goodwill item is 2 x 5.00, not 1 x 10.00
    assert goodwill_units(Amounts(piece.gross, piece.tax), piece.quantity) == [(500, 2, 174)]


@given(st.integers(1, 10**9), st.integers(0, 10**8), st.integers(1, 50))
def test_goodwill_units_add_up_to_the_cent(gross, tax, quantity):
    tax = min(tax, gross)
    items = goodwill_units(Amounts(gross, tax), quantity)
    assert sum(price * count for price, count, _ in items) == gross
    assert sum(count for _, count, _ in items) == quantity
    assert sum(item_tax for _, _, item_tax in items) == tax
    assert all(count > 0 for _, count, _ in items)
