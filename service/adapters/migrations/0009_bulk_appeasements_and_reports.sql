-- Bulk appeasements (one request shape applied to many orders, granted one by one by a
-- background runner), the carriers of shipments that select them, and the reason of a
-- refused grant for the reports.

ALTER TABLE shipments ADD COLUMN carriers text[] NOT NULL DEFAULT '{}';
CREATE INDEX shipments_by_date ON shipments (shipped_at);

ALTER TABLE appeasement_rejections ADD COLUMN reason text;
CREATE INDEX appeasement_rejections_by_time ON appeasement_rejections (at);
CREATE INDEX appeasements_by_time ON appeasements (created_at);
CREATE INDEX appeasements_held ON appeasements (created_at) WHERE status = 'PENDINGAPPROVAL';

CREATE TABLE bulk_appeasements (
    bulk_id             text PRIMARY KEY,
    name                text NOT NULL,
    reason              text NOT NULL,
    comment             text,
    shape               jsonb NOT NULL,
    selection           jsonb NOT NULL,
    status              text NOT NULL
                        CHECK (status IN ('DRAFT', 'RUNNING', 'DONE', 'CANCELLED')),
    created_by          text NOT NULL,
    role                text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    run_by              text,
    run_role            text,
    started_at          timestamptz,
    finished_at         timestamptz,
    cancelled_by        text
);
CREATE INDEX bulk_appeasements_running ON bulk_appeasements (created_at) WHERE status = 'RUNNING';

-- One row per selected order: its dry run, then what the run did with it.
CREATE TABLE bulk_items (
    bulk_id             text NOT NULL REFERENCES bulk_appeasements (bulk_id),
    position            integer NOT NULL,
    order_id            text NOT NULL,
    request             jsonb,
    preview_status      text,
    preview_amount      text,
    preview_code        text,
    preview_message     text,
    status              text NOT NULL
                        CHECK (status IN ('PENDING', 'GRANTED', 'HELD', 'REFUSED', 'CANCELLED')),
    appeasement_id      text,
    amount              text,
    currency            text,
    code                text,
    message             text,
    done_at             timestamptz,
    PRIMARY KEY (bulk_id, position),
    UNIQUE (bulk_id, order_id)
);
CREATE INDEX bulk_items_pending ON bulk_items (bulk_id, position) WHERE status = 'PENDING';
