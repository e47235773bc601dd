-- Bank details for refunds by transfer are kept sealed (Fernet); so are outbox messages
-- that carry them, until the relay publishes them.

ALTER TABLE appeasements ADD COLUMN bank_details text;
ALTER TABLE outbox ADD COLUMN sealed boolean NOT NULL DEFAULT false;
