-- The trace a message was written in (W3C Trace Context), so that its publication, and the
-- consumers that read it, continue that trace. Empty for messages written outside a trace.
ALTER TABLE outbox ADD COLUMN traceparent text;
ALTER TABLE outbox ADD COLUMN tracestate text;
