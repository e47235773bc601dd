-- Dead letters replayed to their original topic by an operator: who, when, why, and the id
-- of the replay (header `x-replay-id` of the republished record). A dead letter with a row
-- here is not replayed again unless the operator asks for it.
CREATE TABLE dead_letter_replays (
    id                  bigserial PRIMARY KEY,
    outbox_id           bigint NOT NULL REFERENCES outbox (id),
    letter_id           text NOT NULL,
    original_topic      text NOT NULL,
    replay_id           text NOT NULL UNIQUE,
    actor               text NOT NULL,
    reason              text,
    at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_replays_by_letter ON dead_letter_replays (outbox_id, at);
