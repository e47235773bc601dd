"""MCOM open-specification structs (shared-services 1.0.3) that this service reads."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from schemas.base import CustomAttribute, McomAmount, McomStruct


class PriceTax(McomStruct):
    type: str | None = None
    amount: McomAmount | None = None
    rate: McomAmount | None = None


class Price(McomStruct):
    """Prices the whole line: all of its `quantity`."""

    gross_amount: McomAmount = Field(description="Gross amount of the line", examples=[99.8])
    net_amount: McomAmount | None = Field(None, description="Net amount of the line")
    tax_amount: McomAmount | None = Field(None, description="Total tax amount of the line")
    tax_rate: McomAmount | None = Field(None, description="Total tax rate, in percent")
    taxes: list[PriceTax] = Field(default_factory=list)
    currency: str | None = Field(None, description="ISO 4217 code", examples=["EUR"])


class LinePayment(McomStruct):
    payment_reference: str | None = None
    gross_amount: McomAmount
    net_amount: McomAmount | None = None
    tax_amount: McomAmount | None = None
    tax_rate: McomAmount | None = None
    currency: str | None = None
    status: str | None = Field(
        None, description="Only CAPTURED, PAID, SETTLED, INVOICED (configurable) count as paid"
    )


class OrderLine(McomStruct):
    id: str = Field(description="Identifier of the line", examples=["L1"])
    line_number: int = Field(description="Number of the line in sequential order", examples=[1])
    product_type: str = Field(
        description="SHIPPING, HANDLING and FEE lines are charges; anything else is product",
        examples=["PHYSICAL"],
    )
    sku: str = Field(examples=["TABLE-OAK"])
    quantity: int = Field(1, ge=0)
    product_name: str | None = None
    payment_reference: str | None = None
    status: str | None = Field(None, description="CANCELLED lines have nothing creditable")
    status_reason: str | None = None
    amount: Price
    payments: list[LinePayment] | None = None
    custom_attributes: list[CustomAttribute] | None = None


class OrderCustomer(McomStruct):
    id: str | None = None
    type: str | None = None
    segment: str | None = None


class Address(McomStruct):
    reference: str | None = None
    address_type: str | None = None
    email: str | None = None


class GatewayInformation(McomStruct):
    transaction_id: str | None = None
    authorization_status: str | None = None


class PaymentTransaction(McomStruct):
    payment_method: str | None = None
    amount: McomAmount | None = None
    gateway_information: GatewayInformation | None = None


class OrderPayment(McomStruct):
    reference: str | None = None
    currency: str | None = None
    transactions: list[PaymentTransaction] = Field(default_factory=list)


class Order(McomStruct):
    """The whole order, sent again on every change."""

    id: str = Field(description="The identifier of the order", examples=["000012345"])
    store: str = Field(description="Store the order comes from", examples=["eu-web"])
    status: str | None = Field(None, description="ERROR marks a payment exception")
    status_reason: str | None = None
    status_date: datetime | None = Field(
        None, description="Snapshots older than the one held are ignored"
    )
    origin_date: datetime | None = None
    language: str | None = None
    vat_country: str | None = None
    customer: OrderCustomer = Field(default_factory=OrderCustomer)
    addresses: list[Address] = Field(default_factory=list)
    payments: list[OrderPayment] = Field(default_factory=list)
    lines: list[OrderLine] = Field(default_factory=list)
    custom_attributes: list[CustomAttribute] | None = None


class ReturnStatus(McomStruct):
    code: str | None = Field(None, examples=["REQUESTED"])
    name: str | None = None
    reason_code: str | None = None
    reason_name: str | None = None
    date: datetime | None = None


class ReturnLine(McomStruct):
    """One returned unit of the order line with this `line_number`."""

    id: str | None = None
    line_number: int
    sku: str | None = None
    reason: str | None = None
    reason_description: str | None = None
    condition: str | None = None
    status: str | None = None


class Return(McomStruct):
    sales_channel_id: str | None = None
    order_id: str
    rma: str = Field(description="RMA code of the return", examples=["RMA-77"])
    user: str | None = None
    status: ReturnStatus | None = None
    lines: list[ReturnLine] = Field(default_factory=list)


class RefundStatus(McomStruct):
    code: str | None = Field(
        None, description="PENDINGRELEASE and RELEASED count; FAILED and CANCELLED give back"
    )
    name: str | None = None
    reason_code: str | None = None
    reason_name: str | None = None
    date: date | datetime | None = None


class VatDetail(McomStruct):
    type: str | None = None
    amount: McomAmount | None = None
    rate: McomAmount | None = None


class RefundPaymentDetails(McomStruct):
    cost_gross: McomAmount
    cost_net: McomAmount | None = None
    cost_vat: McomAmount | None = None
    vat_rate: McomAmount | None = None
    vat_detail: list[VatDetail] | None = None


class RefundPaymentStatus(McomStruct):
    code: str | None = None
    name: str | None = None


class RefundPayment(McomStruct):
    ref: str | None = None
    details: RefundPaymentDetails
    status: RefundPaymentStatus | None = None


class RefundLine(McomStruct):
    order_line: str = Field(description="The order line id; the bucket follows that line")
    order_item_id: str | None = None
    reason: str | None = None
    reason_description: str | None = None
    payments: list[RefundPayment] = Field(default_factory=list)


class Refund(McomStruct):
    client: str | None = Field(None, description="Refunds whose client is this service are its own")
    order_id: str
    store_id: str | None = None
    sales_channel_id: str | None = None
    credit_note_number: str = Field(description="Identifies the refund across its updates")
    credit_note_date: date | datetime | None = None
    status: RefundStatus = Field(default_factory=RefundStatus)
    refund_type: str | None = Field(None, examples=["Return", "Cancellation", "Appeasement"])
    rma: str | None = None
    user: str | None = None
    refund_reason: str | None = None
    lines: list[RefundLine] = Field(default_factory=list)
    custom_attributes: list[CustomAttribute] | None = None


class ShipmentItem(McomStruct):
    order_line_id: str | None = None
    order_line_number: int | None = None
    status: str | None = None


class Package(McomStruct):
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_link: str | None = None


class Shipment(McomStruct):
    order_id: str
    shipment_date: datetime | None = None
    method: str | None = None
    items: list[ShipmentItem] = Field(default_factory=list)
    packages: list[Package] = Field(default_factory=list)
