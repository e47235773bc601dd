-- Per-customer limits need the customer on each appeasement; claims group appeasements.

ALTER TABLE appeasements ADD COLUMN customer_id text;
CREATE INDEX appeasements_by_customer ON appeasements (customer_id, created_at)
    WHERE customer_id IS NOT NULL;

CREATE TABLE claims (
    claim_id            text PRIMARY KEY,
    order_id            text NOT NULL REFERENCES orders (order_id),
    status              text NOT NULL CHECK (status IN ('OPEN', 'CLOSED')),
    reason              text NOT NULL,
    comment             text,
    line_ids            text[] NOT NULL DEFAULT '{}',
    opened_by           text NOT NULL,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    closed_by           text,
    closed_at           timestamptz,
    close_comment       text
);
CREATE INDEX claims_by_order ON claims (order_id, opened_at);
