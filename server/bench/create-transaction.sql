-- pgbench replay of the database work of one CreateSession (2-person roster), statement for statement
-- as SessionStore.insertSession and Tx.flush send them: the ceiling this transaction has on this
-- PostgreSQL with no server in front of it. ghz.sh runs it beside pgbench's single-row INSERT.
-- Keep it in step with those two statements.
\set r random(1, 1000000000000)
BEGIN;
WITH s AS (
  INSERT INTO sessions (id, tenant_id, external_ref, request_id, title, media, status,
      scheduled_start_time, scheduled_end_time, max_participants, lobby_enabled, no_show_grace_ms,
      empty_timeout_ms, metadata, create_time, update_time, no_show_deadline)
  VALUES ('ses_' || :client_id || '_' || :r, 'dev', 'replay-' || :client_id || '-' || :r, NULL, '', 'VIDEO',
      'SCHEDULED', '2030-01-01T10:00:00Z', '2030-01-01T10:30:00Z', 10, false, 600000, 600000,
      CAST('{}' AS jsonb), now(), now(), '2030-01-01T10:10:00Z')
  ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
  RETURNING *
), roster AS (
  INSERT INTO participants (tenant_id, session_id, user_id, display_name, role, add_time)
  SELECT s.tenant_id, s.id, p.user_id, p.display_name, p.role, s.create_time
    FROM s, unnest(CAST('{dr,pat}' AS text[]), CAST('{"",""}' AS text[]), CAST('{HOST,PARTICIPANT}' AS text[]))
            WITH ORDINALITY AS p(user_id, display_name, role, n)
   ORDER BY p.n
)
SELECT * FROM s;
WITH scheduled AS (
  INSERT INTO jobs (tenant_id, kind, subject_id, due_time)
  SELECT DISTINCT ON (j.kind, j.subject_id) 'dev', j.kind, j.subject_id, j.due
    FROM unnest(CAST('{session.no_show}' AS text[]), ARRAY['ses_' || :client_id || '_' || :r],
                CAST(CAST('{2030-01-01T10:10:00Z}' AS text[]) AS timestamptz[])) WITH ORDINALITY AS j(kind, subject_id, due, n)
   ORDER BY j.kind, j.subject_id, j.n DESC
  ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE
     SET due_time = excluded.due_time, attempts = 0, version = jobs.version + 1, last_error = NULL, parked_time = NULL
)
INSERT INTO events (tenant_id, position, aggregate_type, aggregate_id, aggregate_seq, type, actor, event_time, payload)
SELECT 'dev', pg_current_xact_id()::text::bigint * 65536 + 0 + e.n - 1,
       e.aggregate_type, e.aggregate_id,
       coalesce((SELECT max(x.aggregate_seq) FROM events x
                 WHERE x.tenant_id = 'dev' AND x.aggregate_type = e.aggregate_type
                   AND x.aggregate_id = e.aggregate_id), 0)
         + row_number() OVER (PARTITION BY e.aggregate_type, e.aggregate_id ORDER BY e.n),
       e.type, 'key_replay', now(), CAST(e.payload AS jsonb)
  FROM unnest(CAST('{session,session,session}' AS text[]),
              ARRAY['ses_' || :client_id || '_' || :r, 'ses_' || :client_id || '_' || :r, 'ses_' || :client_id || '_' || :r],
              CAST('{SESSION_CREATED,PARTICIPANT_ADDED,PARTICIPANT_ADDED}' AS text[]),
              CAST('{"{\"status\": \"SCHEDULED\"}","{\"user_id\": \"dr\"}","{\"user_id\": \"pat\"}"}' AS text[]))
       WITH ORDINALITY AS e(aggregate_type, aggregate_id, type, payload, n);
COMMIT;
