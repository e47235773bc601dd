-- The creditable-balance projection: what the OMS told us about each order.
-- Amounts of orders and lines are integer minor units of the order's currency.

CREATE TABLE orders (
    order_id            text PRIMARY KEY,
    known               boolean NOT NULL DEFAULT false,
    store               text,
    currency            text,
    taxation            text,
    status              text,
    status_reason       text,
    status_date         timestamptz,
    vat_country         text,
    customer_id         text,
    customer_type       text,
    customer_segment    text,
    customer_email      text,
    language            text,
    payment_method      text,
    payment_reference   text,
    cancelled_line_ids  text[] NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_lines (
    order_id            text NOT NULL REFERENCES orders (order_id),
    line_id             text NOT NULL,
    line_number         integer NOT NULL,
    product_type        text NOT NULL,
    bucket              text NOT NULL CHECK (bucket IN ('product', 'shipping', 'handling', 'fee')),
    sku                 text NOT NULL,
    product_name        text,
    quantity            integer NOT NULL CHECK (quantity > 0),
    status              text,
    payment_reference   text,
    gross_minor         bigint NOT NULL,
    tax_minor           bigint NOT NULL,
    tax_rate            numeric,
    paid_gross_minor    bigint NOT NULL,
    paid_tax_minor      bigint NOT NULL,
    PRIMARY KEY (order_id, line_id)
);

-- Refunds the OMS made. Their amounts stay as the OMS sent them (numeric): a refund
-- may arrive before the order that tells its currency; the balance rounds them.
CREATE TABLE oms_refunds (
    order_id            text NOT NULL REFERENCES orders (order_id),
    credit_note_number  text NOT NULL,
    refund_type         text,
    status              text,
    rma                 text,
    status_date         timestamptz,
    PRIMARY KEY (order_id, credit_note_number)
);

CREATE TABLE oms_refund_lines (
    order_id            text NOT NULL,
    credit_note_number  text NOT NULL,
    position            integer NOT NULL,
    order_line          text NOT NULL,
    cost_gross          numeric NOT NULL,
    cost_tax            numeric NOT NULL,
    PRIMARY KEY (order_id, credit_note_number, position),
    FOREIGN KEY (order_id, credit_note_number)
        REFERENCES oms_refunds (order_id, credit_note_number) ON DELETE CASCADE
);

CREATE TABLE returns (
    order_id            text NOT NULL REFERENCES orders (order_id),
    rma                 text NOT NULL,
    status              text,
    received            boolean NOT NULL DEFAULT false,
    status_date         timestamptz,
    line_numbers        integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (order_id, rma)
);

CREATE TABLE shipments (
    order_id            text NOT NULL REFERENCES orders (order_id),
    shipment_id         text NOT NULL,
    shipped_at          timestamptz,
    method              text,
    line_ids            text[] NOT NULL DEFAULT '{}',
    tracking_numbers    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (order_id, shipment_id)
);

-- One row per consumed message, written in the transaction that applied it:
-- a redelivered message hits this key and is acknowledged without effect.
CREATE TABLE inbox (
    consumer            text NOT NULL,
    message_id          text NOT NULL,
    method              text NOT NULL,
    order_id            text,
    applied_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
