-- Published messages by when: what the retention purge deletes once they are old enough.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
