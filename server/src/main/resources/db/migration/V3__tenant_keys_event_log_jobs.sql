-- The shared layer's schema: tenant-first keys everywhere, one event log for every aggregate,
-- and the job table every background task runs from.

-- Every table's key begins with tenant_id and children reference parents by (tenant_id, ...), so
-- the schema distributes by tenant (Citus) without a redesign. tenants and api_keys stay small
-- reference tables: keys are looked up by their hash before the tenant is known.
ALTER TABLE participants DROP CONSTRAINT participants_session_id_fkey;
ALTER TABLE session_events DROP CONSTRAINT session_events_session_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey;
ALTER TABLE sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (tenant_id, id);
ALTER TABLE sessions DROP CONSTRAINT sessions_request_id;
ALTER TABLE sessions ADD CONSTRAINT sessions_request_id UNIQUE (tenant_id, request_id);

ALTER TABLE participants DROP CONSTRAINT participants_pkey;
ALTER TABLE participants DROP CONSTRAINT participants_user;
ALTER TABLE participants ADD CONSTRAINT participants_pkey PRIMARY KEY (tenant_id, session_id, id);
ALTER TABLE participants ADD CONSTRAINT participants_user UNIQUE (tenant_id, session_id, user_id);
ALTER TABLE participants ADD CONSTRAINT participants_session FOREIGN KEY (tenant_id, session_id)
    REFERENCES sessions (tenant_id, id) ON DELETE CASCADE;
DROP INDEX participants_tenant_user;
CREATE INDEX participants_tenant_user ON participants (tenant_id, user_id);

ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id);
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
DROP INDEX api_keys_tenant;

DROP INDEX sessions_no_show_due;
DROP INDEX sessions_empty_due;

-- The event log of every aggregate (session, and later token, invitation, group, webhook).
--
-- aggregate_seq orders one aggregate's events: 1, 2, 3, ... assigned under the aggregate's row lock.
--
-- position orders a tenant's events for followers (streams, webhook delivery). It is
--     (id of the writing transaction) * 65536 + (index of the event within that transaction)
-- and readers only read positions below pg_snapshot_xmin(pg_current_snapshot()) * 65536, i.e.
-- only events of transactions older than the oldest one still running. Every transaction that can
-- still commit has an id at or above that bound, so it can only add positions above what a reader
-- has already passed: a follower of "position > N" never skips an event that commits late.
-- (A plain sequence cannot promise that: a transaction holding position 5 may commit after one
-- holding 6 has been read.) The price: a long transaction holds followers back until it ends,
-- and statement timeouts bound that. 2^47 transaction ids fit before the bigint runs out.
CREATE TABLE events (
    tenant_id      text        NOT NULL REFERENCES tenants (id),
    position       bigint      NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    aggregate_seq  bigint      NOT NULL,
    type           text        NOT NULL,
    actor          text        NOT NULL,
    event_time     timestamptz NOT NULL,
    payload        jsonb       NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (tenant_id, position),
    CONSTRAINT events_aggregate_seq UNIQUE (tenant_id, aggregate_type, aggregate_id, aggregate_seq)
);

DO $$
BEGIN
  IF (SELECT coalesce(max(sequence), 0) FROM session_events) >= pg_current_xact_id()::text::bigint * 65536 THEN
    RAISE EXCEPTION 'session_events.sequence would collide with event positions';
  END IF;
END $$;

INSERT INTO events (tenant_id, position, aggregate_type, aggregate_id, aggregate_seq, type, actor, event_time, payload)
SELECT tenant_id, sequence, 'session', session_id,
       row_number() OVER (PARTITION BY tenant_id, session_id ORDER BY sequence), type, actor, event_time, payload
FROM session_events;
DROP TABLE session_events;

-- Background work: one row per (kind, subject) that is due at due_time. A runner claims due rows
-- with FOR UPDATE SKIP LOCKED, pushing due_time out by a lease; success deletes the row, failure
-- sets the next due_time with backoff, and too many failures park the row with its error.
-- version changes on every claim and every re-schedule, so a runner whose lease was lost, or whose
-- row was re-scheduled meanwhile, does not delete it.
CREATE TABLE jobs (
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    kind        text        NOT NULL,
    subject_id  text        NOT NULL,
    due_time    timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    version     bigint      NOT NULL DEFAULT 0,
    last_error  text,
    parked_time timestamptz,
    CONSTRAINT jobs_pkey PRIMARY KEY (tenant_id, kind, subject_id)
);
CREATE INDEX jobs_due ON jobs (due_time) WHERE parked_time IS NULL;

-- The sessions that are waiting for their automatic moves get their jobs.
INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
SELECT tenant_id, 'session.no_show', id, no_show_deadline FROM sessions WHERE status IN ('SCHEDULED', 'WAITING');
INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
SELECT tenant_id, 'session.empty_timeout', id, empty_since + empty_timeout_ms * interval '1 millisecond'
FROM sessions WHERE status = 'IN_PROGRESS' AND empty_since IS NOT NULL;

-- Server-wide secrets generated on first start (the page-token signing key), unless configured.
CREATE TABLE server_secrets (
    name        text        PRIMARY KEY,
    value       bytea       NOT NULL,
    create_time timestamptz NOT NULL
);
