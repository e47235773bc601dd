-- Appeasements granted here, their allocation and audit trail, and the transactional outbox.

CREATE TABLE appeasements (
    appeasement_id      text PRIMARY KEY,
    order_id            text NOT NULL REFERENCES orders (order_id),
    channel             text NOT NULL,
    idempotency_key     text NOT NULL,
    request_hash        text NOT NULL,
    command_id          text NOT NULL,
    status              text NOT NULL,
    reason              text NOT NULL,
    comment             text,
    claim_id            text,
    invoice_reference   text,
    refund_method       jsonb,
    requested_by        text NOT NULL,
    role                text NOT NULL,
    approved_by         text,
    currency            text NOT NULL,
    taxation            text NOT NULL,
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    first_response      jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, idempotency_key)
);
CREATE INDEX appeasements_by_order ON appeasements (order_id, created_at);

CREATE TABLE appeasement_allocations (
    appeasement_id      text NOT NULL REFERENCES appeasements (appeasement_id),
    position            integer NOT NULL,
    order_line          text NOT NULL,
    bucket              text NOT NULL,
    gross_minor         bigint NOT NULL CHECK (gross_minor >= 0),
    tax_minor           bigint NOT NULL CHECK (tax_minor >= 0 AND tax_minor <= gross_minor),
    tax_rate            numeric,
    PRIMARY KEY (appeasement_id, position)
);

CREATE TABLE appeasement_transitions (
    appeasement_id      text NOT NULL REFERENCES appeasements (appeasement_id),
    position            integer NOT NULL,
    from_status         text,
    to_status           text NOT NULL,
    actor               text NOT NULL,
    role                text,
    reason              text,
    comment             text,
    at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (appeasement_id, position)
);

-- Commands refused by a rule: they change nothing but this audit log.
CREATE TABLE appeasement_rejections (
    id                  bigserial PRIMARY KEY,
    order_id            text NOT NULL,
    channel             text NOT NULL,
    command_id          text NOT NULL,
    actor               text,
    role                text,
    code                text NOT NULL,
    message             text NOT NULL,
    details             jsonb NOT NULL DEFAULT '{}',
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appeasement_rejections_by_order ON appeasement_rejections (order_id, at);

-- Messages to publish, written in the transaction that decided them; a relay publishes
-- them in id order per key and marks them published.
CREATE TABLE outbox (
    id                  bigserial PRIMARY KEY,
    topic               text NOT NULL,
    key                 text NOT NULL,
    message_id          text NOT NULL UNIQUE,
    payload             text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    published_at        timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (key, id) WHERE published_at IS NULL;
