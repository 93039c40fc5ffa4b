-- What a second join token for a participant already in the call does (DuplicateIdentityPolicy):
-- REPLACE_EXISTING (the providers' default: the new connection replaces the old) or REJECT_NEW.
ALTER TABLE sessions ADD COLUMN duplicate_identity text NOT NULL DEFAULT 'REPLACE_EXISTING';
