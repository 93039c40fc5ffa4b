-- Tokens, providers and credentials (issue 8).

-- A tenant's configuration of one media provider. Non-secret settings in the clear (settings);
-- the secrets as one Tink AEAD ciphertext of a JSON object, bound to (tenant, provider) as
-- associated data, so a row moved to another tenant does not decrypt. stored_secrets names the
-- secret fields held, for reads that must not show them.
CREATE TABLE provider_configs (
    tenant_id                text        NOT NULL REFERENCES tenants (id),
    provider                 text        NOT NULL,
    is_default               boolean     NOT NULL,
    settings                 jsonb       NOT NULL,
    secrets                  bytea       NOT NULL,
    stored_secrets           text[]      NOT NULL,
    status_callback_base_url text        NOT NULL,
    update_time              timestamptz NOT NULL,
    last_check               jsonb,
    version                  bigint      NOT NULL DEFAULT 0,
    CONSTRAINT provider_configs_pkey PRIMARY KEY (tenant_id, provider)
);
-- At most one default provider per tenant.
CREATE UNIQUE INDEX provider_configs_default ON provider_configs (tenant_id) WHERE is_default;

-- A session's provider and its room. provider is fixed when the session is created with one, or
-- when its first join token is issued (the tenant's default then). room_state follows the room:
-- NULL (none yet), CREATING (Convene decided to create it: recorded before the provider is called),
-- ACTIVE (the provider confirmed it), ENDING (the session ended; a job completes the room), ENDED.
ALTER TABLE sessions ADD COLUMN provider text;
ALTER TABLE sessions ADD COLUMN provider_room text;
ALTER TABLE sessions ADD COLUMN provider_room_sid text;
ALTER TABLE sessions ADD COLUMN room_state text;
ALTER TABLE sessions ADD COLUMN join_lead_ms bigint NOT NULL DEFAULT 600000;

-- Banned participants get no join token (bans themselves arrive with the live-call issue).
ALTER TABLE participants ADD COLUMN banned boolean NOT NULL DEFAULT false;

-- The keys that sign a tenant's user and guest credentials (ES256). The private key is a Tink
-- AEAD ciphertext of its PKCS#8 encoding, bound to (tenant, key id); the public key is a JWK.
-- The newest key without retire_time signs; retired keys verify until their credentials expire.
CREATE TABLE signing_keys (
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    id          text        NOT NULL,
    algorithm   text        NOT NULL,
    private_key bytea       NOT NULL,
    public_jwk  jsonb       NOT NULL,
    create_time timestamptz NOT NULL,
    retire_time timestamptz,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (tenant_id, id)
);
-- A credential names its key id, which is looked up before its tenant is known.
CREATE UNIQUE INDEX signing_keys_id ON signing_keys (id);

-- Credentials of a user issued before not_before are refused (RevokeUserCredentials).
CREATE TABLE credential_revocations (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    user_id    text        NOT NULL,
    not_before timestamptz NOT NULL,
    CONSTRAINT credential_revocations_pkey PRIMARY KEY (tenant_id, user_id)
);

-- Access codes: short codes a guest types to get into one session as one roster user. Only an
-- HMAC-SHA-256 of the normalised code is kept (keyed with a server secret, so a stolen table
-- cannot be searched offline through the small code space).
CREATE TABLE access_codes (
    tenant_id   text        NOT NULL,
    id          text        NOT NULL,
    session_id  text        NOT NULL,
    user_id     text        NOT NULL,
    code_hash   bytea       NOT NULL,
    max_uses    integer     NOT NULL,
    use_count   integer     NOT NULL DEFAULT 0,
    expire_time timestamptz NOT NULL,
    create_time timestamptz NOT NULL,
    revoke_time timestamptz,
    CONSTRAINT access_codes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT access_codes_session FOREIGN KEY (tenant_id, session_id)
        REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX access_codes_hash ON access_codes (code_hash);
CREATE INDEX access_codes_session_idx ON access_codes (tenant_id, session_id, create_time DESC);

-- Failed access-code redemptions, counted per client address and per session over a sliding
-- window to cut guessing off. Not a tenant's data: a failed guess may name no tenant at all.
-- Old rows are pruned as the window passes.
CREATE TABLE redemption_failures (
    scope     text        NOT NULL,
    key       text        NOT NULL,
    fail_time timestamptz NOT NULL
);
CREATE INDEX redemption_failures_key ON redemption_failures (scope, key, fail_time);
CREATE INDEX redemption_failures_time ON redemption_failures (fail_time);
