-- Profiles of a tenant's users, keyed by the tenant's own user id (UserService). The phone number is
-- personal data: sealed with the master key (AEAD, bound to tenant and user) and kept masked for
-- reads; names and email are plain but never logged. (Numbered 14, after 15 and 16 were written:
-- no database had run any of them when it was added.)
CREATE TABLE users (
    tenant_id     text        NOT NULL,
    user_id       text        NOT NULL,
    display_name  text        NOT NULL DEFAULT '',
    first_name    text        NOT NULL DEFAULT '',
    last_name     text        NOT NULL DEFAULT '',
    avatar_url    text        NOT NULL DEFAULT '',
    phone_sealed  bytea,
    phone_masked  text,
    email         text        NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, user_id)
);
-- ListUsers by name prefix (case-insensitive, any of the three names).
CREATE INDEX users_display_name ON users (tenant_id, lower(display_name) text_pattern_ops);
CREATE INDEX users_first_name ON users (tenant_id, lower(first_name) text_pattern_ops);
CREATE INDEX users_last_name ON users (tenant_id, lower(last_name) text_pattern_ops);
