-- A row that cannot be published backs off on its own key and, after a number of attempts,
-- is quarantined: its key waits (order is kept), every other key goes on. An operator
-- retries or skips it, and that is audited.
ALTER TABLE outbox ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE outbox ADD COLUMN quarantined_at timestamptz;
ALTER TABLE outbox ADD COLUMN skipped_at timestamptz;
CREATE INDEX outbox_quarantined ON outbox (id) WHERE quarantined_at IS NOT NULL
    AND published_at IS NULL;

-- Dead letters go through the outbox too, written with the batch that met them: the
-- original bytes, key and headers as they came.
ALTER TABLE outbox ADD COLUMN raw_key bytea;
ALTER TABLE outbox ADD COLUMN raw_value bytea;
ALTER TABLE outbox ADD COLUMN headers jsonb;

CREATE TABLE outbox_operator_actions (
    id                  bigserial PRIMARY KEY,
    outbox_id           bigint NOT NULL REFERENCES outbox (id),
    action              text NOT NULL CHECK (action IN ('retry', 'skip')),
    actor               text NOT NULL,
    reason              text NOT NULL,
    at                  timestamptz NOT NULL DEFAULT now()
);
