-- A refused command is kept under its idempotency key, like a granted one: the same key and
-- body are refused again the same way, another body is a conflict.
ALTER TABLE appeasement_rejections ADD COLUMN idempotency_key text;
ALTER TABLE appeasement_rejections ADD COLUMN request_hash text;
CREATE UNIQUE INDEX appeasement_rejections_by_key ON appeasement_rejections (channel, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Units of a unit price x quantity request, for the accounting hand-off.
ALTER TABLE appeasement_allocations ADD COLUMN quantity integer CHECK (quantity > 0);

-- Cumulative limits sum what a reason holds on an order.
CREATE INDEX appeasements_by_order_reason ON appeasements (order_id, reason);
