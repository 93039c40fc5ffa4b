-- Group invitations: an invitation (and the access code behind its link) belongs to a session or,
-- now, to a group. A group's code hashes with the group's id as a session's does with the session's,
-- so one lookup serves both. Group invitations outlive a deleted group (group_id has no foreign key,
-- as group_calls do not): their codes then find no group and say so.
ALTER TABLE access_codes ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE access_codes ADD COLUMN group_id text;
ALTER TABLE access_codes ADD CONSTRAINT access_codes_scope CHECK ((session_id IS NULL) <> (group_id IS NULL));

ALTER TABLE invitations ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE invitations ADD COLUMN group_id text;
ALTER TABLE invitations ADD COLUMN group_role text;
ALTER TABLE invitations ADD CONSTRAINT invitations_scope CHECK ((session_id IS NULL) <> (group_id IS NULL));
ALTER TABLE invitations ADD CONSTRAINT invitations_group_role CHECK (group_role IN ('OWNER', 'MEMBER'));
CREATE INDEX invitations_group_idx ON invitations (tenant_id, group_id, create_time DESC, id DESC)
    WHERE group_id IS NOT NULL;
-- The groups a user is invited to (a user's overview).
CREATE INDEX invitations_user_pending ON invitations (tenant_id, user_id, create_time DESC, id DESC)
    WHERE group_id IS NOT NULL AND status = 'PENDING';
-- A group invitation's text of its own (a visit's text would call it a visit).
ALTER TABLE invitation_settings ADD COLUMN group_sms_template text;
