-- The lobby: where a roster entry stands with it (NONE, WAITING, ADMITTED, DENIED) and since when
-- it waits. Only sessions with lobby_enabled use it, and never for HOSTs.
ALTER TABLE participants ADD COLUMN admission text NOT NULL DEFAULT 'NONE';
ALTER TABLE participants ADD COLUMN lobby_enter_time timestamptz;
