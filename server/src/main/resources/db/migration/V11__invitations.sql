-- Invitations into sessions. The code behind an invitation's link is an access code (the token
-- feature's one mechanism for codes); for SMS the number and the code are kept sealed with the
-- master key (AEAD, bound to the invitation), the number also masked for reads.
-- delivery: NOT_APPLICABLE (LINK), QUEUED, SENDING (handed to the dispatcher's call to Twilio: after a
-- crash it is reconciled with Twilio's message list before any resend; reads show QUEUED), SENT,
-- DELIVERED, FAILED; status: PENDING, ACCEPTED, DECLINED, REVOKED (EXPIRED is derived on read from
-- the access code's expiry).
CREATE TABLE invitations (
    tenant_id           text        NOT NULL,
    id                  text        NOT NULL,
    session_id          text        NOT NULL,
    user_id             text        NOT NULL,
    guest_role          text,
    guest_display_name  text,
    channel             text        NOT NULL,
    phone_sealed        bytea,
    phone_masked        text,
    code_sealed         bytea,
    access_code_id      text        NOT NULL,
    delivery            text        NOT NULL,
    delivery_error_code text,
    message_sid         text,
    send_started_time   timestamptz,
    send_attempts       integer     NOT NULL DEFAULT 0,
    status              text        NOT NULL DEFAULT 'PENDING',
    request_id          text,
    request_fingerprint bytea,
    create_time         timestamptz NOT NULL,
    answer_time         timestamptz,
    CONSTRAINT invitations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_session FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT invitations_access_code FOREIGN KEY (tenant_id, access_code_id)
        REFERENCES access_codes (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX invitations_request ON invitations (tenant_id, request_id) WHERE request_id IS NOT NULL;
CREATE UNIQUE INDEX invitations_code ON invitations (tenant_id, access_code_id);
CREATE UNIQUE INDEX invitations_message ON invitations (tenant_id, message_sid) WHERE message_sid IS NOT NULL;
CREATE INDEX invitations_session_idx ON invitations (tenant_id, session_id, create_time DESC, id DESC);
