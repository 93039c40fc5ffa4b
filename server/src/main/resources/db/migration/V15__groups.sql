-- Persistent groups (GroupService): the group, its members (OWNER or MEMBER), and the calls started
-- in it, each a session of the session feature linked here. A group's activity feed is a view of
-- the shared event log (aggregate 'group', plus its calls' sessions), not a table of its own.
-- live_session_id: the group's live call, if one was started and may not have ended yet (readers
-- check the session's status: a call that ended by itself, e.g. its empty timeout, is not live).
CREATE TABLE groups (
    tenant_id           text        NOT NULL,
    id                  text        NOT NULL,
    name                text        NOT NULL,
    description         text        NOT NULL DEFAULT '',
    media               text        NOT NULL,
    member_count        integer     NOT NULL DEFAULT 0,
    live_session_id     text,
    request_id          text,
    request_fingerprint bytea,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    CONSTRAINT groups_pkey PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX groups_request ON groups (tenant_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX groups_newest ON groups (tenant_id, create_time DESC, id DESC);

CREATE TABLE group_members (
    tenant_id text        NOT NULL,
    group_id  text        NOT NULL,
    user_id   text        NOT NULL,
    role      text        NOT NULL,
    add_time  timestamptz NOT NULL,
    CONSTRAINT group_members_pkey PRIMARY KEY (tenant_id, group_id, user_id),
    CONSTRAINT group_members_group FOREIGN KEY (tenant_id, group_id)
        REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT group_members_role CHECK (role IN ('OWNER', 'MEMBER'))
);
-- A user's groups (ListGroups for a user, the per-user group limit).
CREATE INDEX group_members_user ON group_members (tenant_id, user_id, group_id);

-- Every call started in a group. Kept when the group is deleted: usage and the event log outlive it.
CREATE TABLE group_calls (
    tenant_id  text        NOT NULL,
    session_id text        NOT NULL,
    group_id   text        NOT NULL,
    started_by text        NOT NULL,
    start_time timestamptz NOT NULL,
    CONSTRAINT group_calls_pkey PRIMARY KEY (tenant_id, session_id),
    CONSTRAINT group_calls_session FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_calls_group ON group_calls (tenant_id, group_id, start_time);
