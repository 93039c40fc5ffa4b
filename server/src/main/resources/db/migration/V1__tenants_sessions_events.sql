-- Tenants and their API keys. Keys are stored as SHA-256 hashes only.
CREATE TABLE tenants (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    create_time timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          text        PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    key_hash    bytea       NOT NULL UNIQUE,
    create_time timestamptz NOT NULL,
    revoke_time timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One call. Every query filters on tenant_id.
CREATE TABLE sessions (
    id                   text        PRIMARY KEY,
    tenant_id            text        NOT NULL REFERENCES tenants (id),
    external_ref         text        NOT NULL,
    request_id           text,
    title                text        NOT NULL,
    media                text        NOT NULL,
    status               text        NOT NULL,
    scheduled_start_time timestamptz NOT NULL,
    scheduled_end_time   timestamptz NOT NULL,
    max_participants     integer     NOT NULL,
    lobby_enabled        boolean     NOT NULL,
    no_show_grace_ms     bigint      NOT NULL,
    empty_timeout_ms     bigint      NOT NULL,
    metadata             jsonb       NOT NULL,
    status_reason        text        NOT NULL DEFAULT '',
    missing_roles        text[]      NOT NULL DEFAULT '{}',
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    start_time           timestamptz,
    end_time             timestamptz,
    -- When the last present participant of an IN_PROGRESS session left; cleared on a join.
    empty_since          timestamptz,
    -- When the no-show job may act: scheduled_start_time + no_show_grace.
    no_show_deadline     timestamptz NOT NULL,
    CONSTRAINT sessions_external_ref UNIQUE (tenant_id, external_ref),
    CONSTRAINT sessions_request_id UNIQUE (tenant_id, request_id),
    CONSTRAINT sessions_status CHECK (status IN ('SCHEDULED', 'WAITING', 'IN_PROGRESS', 'COMPLETED', 'CANCELLED', 'NO_SHOW', 'FAILED'))
);
CREATE INDEX sessions_tenant_schedule ON sessions (tenant_id, scheduled_start_time, id);
CREATE INDEX sessions_no_show_due ON sessions (no_show_deadline) WHERE status IN ('SCHEDULED', 'WAITING');
CREATE INDEX sessions_empty_due ON sessions (empty_since) WHERE status = 'IN_PROGRESS' AND empty_since IS NOT NULL;

-- The roster of a session, with presence.
CREATE TABLE participants (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text        NOT NULL REFERENCES tenants (id),
    session_id      text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id         text        NOT NULL,
    display_name    text        NOT NULL,
    role            text        NOT NULL,
    present         boolean     NOT NULL DEFAULT false,
    first_join_time timestamptz,
    last_join_time  timestamptz,
    last_leave_time timestamptz,
    connected_ms    bigint      NOT NULL DEFAULT 0,
    join_count      integer     NOT NULL DEFAULT 0,
    add_time        timestamptz NOT NULL,
    CONSTRAINT participants_user UNIQUE (session_id, user_id)
);
CREATE INDEX participants_tenant_user ON participants (tenant_id, user_id);

-- The append-only event log. Every state change writes its row in the same transaction.
CREATE TABLE session_events (
    sequence    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    session_id  text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    type        text        NOT NULL,
    event_time  timestamptz NOT NULL,
    actor       text        NOT NULL,
    payload     jsonb       NOT NULL
);
CREATE INDEX session_events_session ON session_events (session_id, sequence);
