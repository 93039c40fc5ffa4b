-- A tenant's invitation text and link (null: the server's defaults).
CREATE TABLE invitation_settings (
    tenant_id       text        NOT NULL REFERENCES tenants (id),
    sms_template    text,
    invite_base_url text,
    update_time     timestamptz NOT NULL,
    CONSTRAINT invitation_settings_pkey PRIMARY KEY (tenant_id)
);
