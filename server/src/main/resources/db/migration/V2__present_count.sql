-- How many participants are present, kept on the session row and changed only under its row lock.
-- It used to be counted in a subquery of the locking SELECT, which under READ COMMITTED reads the
-- snapshot taken before the lock wait: two simultaneous joins each counted one.
ALTER TABLE sessions ADD COLUMN present_count integer NOT NULL DEFAULT 0;
UPDATE sessions s SET present_count = (SELECT count(*) FROM participants p WHERE p.session_id = s.id AND p.present);
