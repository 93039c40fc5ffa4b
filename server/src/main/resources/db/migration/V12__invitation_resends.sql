-- ResendInvitation's rate limit: how often an SMS invitation was sent again, and when last.
ALTER TABLE invitations ADD COLUMN resend_count integer NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN last_resend_time timestamptz;
