-- Recording consent (seed 003: recording off unless consented). A roster entry's consent: NONE (not
-- answered: counts as no), GRANTED or WITHDRAWN (declined or withdrawn), and when it last changed.
ALTER TABLE participants ADD COLUMN recording_consent text NOT NULL DEFAULT 'NONE';
ALTER TABLE participants ADD COLUMN recording_consent_time timestamptz;
-- A session's recording: on or off, when it last started or stopped, and why it stopped
-- (RecordingStopReason without its prefix; NULL while on or never started).
ALTER TABLE sessions ADD COLUMN recording boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN recording_change_time timestamptz;
ALTER TABLE sessions ADD COLUMN recording_stop_reason text;
