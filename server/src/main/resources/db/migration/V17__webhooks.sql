-- Outbound webhooks: the tenant's endpoints, and each event's delivery to each endpoint.

-- cursor_position: the log position up to which the endpoint's deliveries were queued (read with
-- EventLog.follow, which never skips an event that commits late). secret_sealed is the signing
-- secret encrypted with the master key (it must be read to sign, so it cannot be hashed);
-- previous_secret_sealed still signs until previous_expire_time after a rotation.
CREATE TABLE webhook_endpoints (
    tenant_id              text        NOT NULL REFERENCES tenants (id),
    id                     text        NOT NULL,
    url                    text        NOT NULL,
    event_types            text[]      NOT NULL,
    description            text        NOT NULL,
    secret_sealed          bytea       NOT NULL,
    previous_secret_sealed bytea,
    previous_expire_time   timestamptz,
    enabled                boolean     NOT NULL,
    disabled_reason        text        NOT NULL DEFAULT '',
    failing_since          timestamptz,
    cursor_position        bigint      NOT NULL,
    request_id             text,
    request_fingerprint    bytea,
    create_time            timestamptz NOT NULL,
    update_time            timestamptz NOT NULL,
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_endpoints_request_id UNIQUE (tenant_id, request_id)
);

-- One row per (endpoint, event). id is the webhook-id every attempt sends. status: PENDING,
-- DELIVERED, FAILED. lease_until marks an attempt in flight, so two replicas never send the same
-- delivery at once; an attempt whose replica died is taken up again once it passes.
CREATE TABLE webhook_deliveries (
    tenant_id         text        NOT NULL,
    endpoint_id       text        NOT NULL,
    id                text        NOT NULL,
    position          bigint      NOT NULL,
    event_type        text        NOT NULL,
    status            text        NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL,
    lease_until       timestamptz,
    last_status_code  integer     NOT NULL DEFAULT 0,
    last_error        text        NOT NULL DEFAULT '',
    delivered_time    timestamptz,
    create_time       timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, endpoint_id, id),
    CONSTRAINT webhook_deliveries_event UNIQUE (tenant_id, endpoint_id, position),
    CONSTRAINT webhook_deliveries_endpoint FOREIGN KEY (tenant_id, endpoint_id)
        REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
-- The next delivery of an endpoint, in log order.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (tenant_id, endpoint_id, position)
    WHERE status = 'PENDING';
-- An endpoint's deliveries, newest first.
CREATE INDEX webhook_deliveries_listed ON webhook_deliveries (tenant_id, endpoint_id, create_time DESC, id DESC);
