-- Provider callbacks (Twilio status callbacks, LiveKit webhooks) as received, once per provider
-- event id: the dedupe key, and the raw body kept for a few days (CONVENE_PROVIDER_EVENT_RETENTION)
-- for whoever has to find out what the provider said. outcome: APPLIED, UNCHANGED, STALE, IGNORED
-- (see ProviderPresence.Outcome), or STORED for events Convene does not act on (tracks).
CREATE TABLE provider_events (
    tenant_id     text        NOT NULL REFERENCES tenants (id),
    provider      text        NOT NULL,
    event_id      text        NOT NULL,
    event_type    text        NOT NULL,
    room_name     text,
    identity      text,
    provider_time timestamptz NOT NULL,
    receive_time  timestamptz NOT NULL,
    outcome       text        NOT NULL,
    content_type  text        NOT NULL,
    body          bytea       NOT NULL,
    PRIMARY KEY (tenant_id, provider, event_id)
);
CREATE INDEX provider_events_receive_time ON provider_events (tenant_id, receive_time);

-- The provider time of the newest observation applied to this participant's presence (a webhook or a
-- reconciliation); an older one is not applied.
ALTER TABLE participants ADD COLUMN provider_event_time timestamptz;
