"""The seed examples and the rules, on the pure domain: no database, no broker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from service.adapters.policy_file import PolicyFileError, load_policy
from service.domain.appeasement import AmountsAsk, LineAsk, LinesAsk, PercentAsk, plan
from service.domain.errors import DomainError
from service.domain.grant import decide
from service.domain.lifecycle import NotPendingApproval, TransitionRefused, next_status
from tests.unit.orders import TABLE_ORDER, US_ORDER, balance_of, order_state

POLICY = load_policy(Path(__file__).resolve().parents[2] / "policy.toml")


def pieces(allocation):
    return [(p.order_line, p.bucket, p.gross, p.net, p.tax) for p in allocation.pieces]


def test_twenty_percent_of_a_scratched_table_under_21_percent_vat():
    allocation = plan(balance_of(order_state(TABLE_ORDER)),
                      LinesAsk((LineAsk("L1", percent=Decimal(20)),)))
    assert pieces(allocation) == [("L1", "product", 9980, 8248, 1732)]


def test_the_shipping_of_a_late_parcel():
    allocation = plan(balance_of(order_state(TABLE_ORDER)), AmountsAsk({"shipping": 590}))
    assert pieces(allocation) == [("L3", "shipping", 590, 488, 102)]


def test_a_tax_only_credit_under_net_taxation_spreads_over_tax_by_value():
    allocation = plan(balance_of(order_state(US_ORDER, currency="USD", store="us-web")),
                      AmountsAsk({"tax": 454}))
    assert pieces(allocation) == [("L1", "tax", 413, 0, 413), ("L2", "tax", 41, 0, 41)]


def test_unit_price_times_quantity():
    allocation = plan(balance_of(order_state(TABLE_ORDER)),
                      LinesAsk((LineAsk("L2", unit_amount=500, quantity=2),)))
    assert pieces(allocation) == [("L2", "product", 1000, 826, 174)]


def test_an_order_percentage_with_shipping():
    allocation = plan(balance_of(order_state(TABLE_ORDER)), PercentAsk(Decimal(20), True))
    assert allocation.total.gross == 10778 + 118


@pytest.mark.parametrize(("state", "ask", "code"), [
    (order_state(TABLE_ORDER), AmountsAsk({"tax": 100}), "TAX_ONLY_REQUIRES_NET_TAXATION"),
    (order_state(US_ORDER, currency="USD", store="us-web"),
     AmountsAsk({"tax": 100, "product": 100}), "TAX_WITH_OTHER_BUCKETS"),
    (order_state(TABLE_ORDER), AmountsAsk({"overage": 54481}), "EXCEEDS_TOTAL_CREDITABLE"),
    (order_state(TABLE_ORDER), AmountsAsk({"shipping": 591}), "EXCEEDS_CREDITABLE_BALANCE"),
    (order_state(TABLE_ORDER), LinesAsk((LineAsk("L9", amount=1),)), "UNKNOWN_LINE"),
    (order_state(TABLE_ORDER), LinesAsk((LineAsk("L2", unit_amount=500, quantity=3),)),
     "INVALID_AMOUNT"),
    (order_state(TABLE_ORDER, status="ERROR"), AmountsAsk({"product": 1}), "PAYMENT_ERROR"),
])
def test_each_balance_rule_has_its_code(state, ask, code):
    with pytest.raises(DomainError) as raised:
        plan(balance_of(state), ask)
    assert raised.value.code == code


@pytest.mark.parametrize(("reason", "role", "ask", "outcome"), [
    ("DELIVERY_DELAYED", "agent", AmountsAsk({"shipping": 590}), "PENDINGRELEASE"),
    ("DELIVERY_DELAYED", "agent", AmountsAsk({"product": 590}), "BUCKET_NOT_ALLOWED_FOR_REASON"),
    ("CUSTOMER_COMPLAINT", "manager", PercentAsk(Decimal(40)), "REASON_LIMIT_EXCEEDED"),
    ("ARTICLE_DEFECTIVE", "agent", AmountsAsk({"product": 15000}), "PENDINGAPPROVAL"),
    ("ARTICLE_DEFECTIVE", "lead", AmountsAsk({"product": 15000}), "PENDINGRELEASE"),
    ("BORED", "agent", AmountsAsk({"product": 100}), "UNKNOWN_REASON"),
    ("OTHER", "intern", AmountsAsk({"product": 100}), "FORBIDDEN"),
])
def test_the_policy_decides_after_the_balance(reason, role, ask, outcome):
    balance = balance_of(order_state(TABLE_ORDER))
    try:
        decision = decide(balance, ask, reason_code=reason, role_name=role, policy=POLICY)
    except DomainError as error:
        assert error.code == outcome
    else:
        assert decision.status == outcome


def test_the_shipped_policy_has_the_fourteen_reasons():
    assert len(POLICY.reasons) == 14
    assert {"CUSTOMER_COMPLAINT", "DELIVERY_DELAYED", "FRAUD", "OTHER"} <= set(POLICY.reasons)


def test_a_bad_policy_key_is_named(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[reasons.OTHER]\nlabel = "x"\nbuckets = ["gifts"]\n[roles.agent]\n')
    with pytest.raises(PolicyFileError, match=r"reasons\.OTHER\.buckets\.0"):
        load_policy(path)


def test_statuses_move_one_way():
    assert next_status("PENDINGRELEASE", "release") == "RELEASED"
    assert next_status("PENDINGRELEASE", "cancel") == "FAILED"
    assert next_status("RELEASED", "release") is None
    with pytest.raises(TransitionRefused):
        next_status("FAILED", "release")
    with pytest.raises(NotPendingApproval):
        next_status("DECLINED", "approve")


def test_a_pieces_tax_never_catches_up_tax_an_earlier_piece_could_not_take():
    # given a net-taxed line of 0.92 net + 0.08 tax, whose tax was partly credited alone
    state = order_state([("L1", "PHYSICAL", "1.00", "0.08", "8.25")], currency="USD",
                        store="us-web")
    tax_only = plan(balance_of(state), AmountsAsk({"tax": 2}))
    assert pieces(tax_only) == [("L1", "tax", 2, 0, 2)]
    # and a product credit of 0.90 took only the 0.06 tax left then
    product = plan(balance_of(state, {"L1": tax_only.total}), AmountsAsk({"product": 90}))
    assert pieces(product) == [("L1", "product", 96, 90, 6)]
    # when the tax-only credit fails and 0.01 more product is credited
    later = plan(balance_of(state, {"L1": product.total}), AmountsAsk({"product": 1}))
    # then that piece carries the tax of its own 0.01 (pro rata: 0.00), not the 0.02 missed
    assert pieces(later) == [("L1", "product", 1, 1, 0)]
