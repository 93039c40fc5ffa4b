package dev.convene.server.session;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.sqlobject.config.RegisterConstructorMapper;
import org.jdbi.v3.sqlobject.customizer.Bind;
import org.jdbi.v3.sqlobject.customizer.BindMethods;
import org.jdbi.v3.sqlobject.statement.SqlQuery;
import org.jdbi.v3.sqlobject.statement.SqlUpdate;

/** Sessions and their rosters. Every statement is scoped by tenant. */
@RegisterConstructorMapper(SessionRow.class)
@RegisterConstructorMapper(ParticipantRow.class)
@RegisterConstructorMapper(SessionDao.StatusTotals.class)
public interface SessionDao {
  String SESSION_COLUMNS = """
      s.id, s.tenant_id, s.external_ref, s.request_id, s.title, s.media, s.status,
      s.scheduled_start_time, s.scheduled_end_time, s.max_participants, s.lobby_enabled,
      s.no_show_grace_ms, s.empty_timeout_ms, s.metadata::text AS metadata, s.status_reason,
      s.missing_roles, s.create_time, s.update_time, s.start_time, s.end_time, s.empty_since,
      s.no_show_deadline, s.present_count
      """;

  String PARTICIPANT_COLUMNS = """
      id, session_id, user_id, display_name, role, present, first_join_time, last_join_time,
      last_leave_time, connected_ms, join_count, add_time
      """;

  @SqlUpdate("""
      INSERT INTO sessions (id, tenant_id, external_ref, request_id, title, media, status,
          scheduled_start_time, scheduled_end_time, max_participants, lobby_enabled, no_show_grace_ms,
          empty_timeout_ms, metadata, create_time, update_time, no_show_deadline)
      VALUES (:s.id, :s.tenantId, :s.externalRef, :s.requestId, :s.title, :s.media, :s.status,
          :s.scheduledStartTime, :s.scheduledEndTime, :s.maxParticipants, :s.lobbyEnabled, :s.noShowGraceMs,
          :s.emptyTimeoutMs, CAST(:s.metadata AS jsonb), :s.createTime, :s.updateTime, :s.noShowDeadline)
      ON CONFLICT ON CONSTRAINT sessions_request_id DO NOTHING
      """)
  boolean insertSession(@BindMethods("s") SessionRow session);

  @SqlQuery("SELECT " + SESSION_COLUMNS + " FROM sessions s WHERE s.tenant_id = :tenantId AND s.id = :id")
  Optional<SessionRow> find(@Bind("tenantId") String tenantId, @Bind("id") String id);

  @SqlQuery("SELECT " + SESSION_COLUMNS + " FROM sessions s WHERE s.tenant_id = :tenantId AND s.request_id = :requestId")
  Optional<SessionRow> findByRequestId(@Bind("tenantId") String tenantId, @Bind("requestId") String requestId);

  /** Locks the session row for the rest of the transaction: every change to a session goes through this. */
  @SqlQuery("SELECT " + SESSION_COLUMNS + " FROM sessions s WHERE s.tenant_id = :tenantId AND s.id = :id FOR UPDATE")
  Optional<SessionRow> lock(@Bind("tenantId") String tenantId, @Bind("id") String id);

  @SqlQuery("SELECT " + SESSION_COLUMNS + """
      FROM sessions s
      WHERE s.tenant_id = :tenantId
        AND (CAST(:status AS text) IS NULL OR s.status = :status)
        AND (CAST(:externalRef AS text) IS NULL OR s.external_ref = :externalRef)
        AND (CAST(:userId AS text) IS NULL OR EXISTS (
              SELECT 1 FROM participants p WHERE p.session_id = s.id AND p.user_id = :userId))
        AND (CAST(:from AS timestamptz) IS NULL OR s.scheduled_start_time >= :from)
        AND (CAST(:before AS timestamptz) IS NULL OR s.scheduled_start_time < :before)
        AND (CAST(:afterTime AS timestamptz) IS NULL OR (s.scheduled_start_time, s.id) > (:afterTime, :afterId))
      ORDER BY s.scheduled_start_time, s.id
      LIMIT :limit
      """)
  List<SessionRow> list(@Bind("tenantId") String tenantId, @Bind("status") String status,
      @Bind("externalRef") String externalRef, @Bind("userId") String userId, @Bind("from") Instant from,
      @Bind("before") Instant before, @Bind("afterTime") Instant afterTime, @Bind("afterId") String afterId,
      @Bind("limit") int limit);

  @SqlUpdate("""
      UPDATE sessions SET status = :s.status, status_reason = :s.statusReason, missing_roles = :s.missingRoles,
          update_time = :s.updateTime, start_time = :s.startTime, end_time = :s.endTime, empty_since = :s.emptySince,
          present_count = :s.presentCount
      WHERE tenant_id = :s.tenantId AND id = :s.id
      """)
  void updateLifecycle(@BindMethods("s") SessionRow session);

  /** Sessions whose no-show deadline has passed, locked, skipping any another replica holds. */
  @SqlQuery("SELECT " + SESSION_COLUMNS + """
      FROM sessions s
      WHERE s.status IN ('SCHEDULED', 'WAITING') AND s.no_show_deadline <= :now
      ORDER BY s.no_show_deadline
      LIMIT :limit
      FOR UPDATE SKIP LOCKED
      """)
  List<SessionRow> claimNoShows(@Bind("now") Instant now, @Bind("limit") int limit);

  /** In-progress sessions empty for longer than their timeout, locked, skipping any another replica holds. */
  @SqlQuery("SELECT " + SESSION_COLUMNS + """
      FROM sessions s
      WHERE s.status = 'IN_PROGRESS' AND s.empty_since IS NOT NULL
        AND s.empty_since + s.empty_timeout_ms * interval '1 millisecond' <= :now
      ORDER BY s.empty_since
      LIMIT :limit
      FOR UPDATE SKIP LOCKED
      """)
  List<SessionRow> claimEmpty(@Bind("now") Instant now, @Bind("limit") int limit);

  // --- roster -------------------------------------------------------------------------------

  @SqlQuery("""
      INSERT INTO participants (tenant_id, session_id, user_id, display_name, role, add_time)
      VALUES (:tenantId, :sessionId, :userId, :displayName, :role, :now)
      ON CONFLICT ON CONSTRAINT participants_user DO NOTHING
      RETURNING
      """ + PARTICIPANT_COLUMNS)
  Optional<ParticipantRow> insertParticipant(@Bind("tenantId") String tenantId, @Bind("sessionId") String sessionId,
      @Bind("userId") String userId, @Bind("displayName") String displayName, @Bind("role") String role,
      @Bind("now") Instant now);

  @SqlQuery("SELECT " + PARTICIPANT_COLUMNS + " FROM participants WHERE session_id = :sessionId AND user_id = :userId")
  Optional<ParticipantRow> findParticipant(@Bind("sessionId") String sessionId, @Bind("userId") String userId);

  @SqlQuery("SELECT " + PARTICIPANT_COLUMNS + """
      FROM participants
      WHERE session_id = :sessionId AND id > :afterId
      ORDER BY id
      LIMIT :limit
      """)
  List<ParticipantRow> listParticipants(@Bind("sessionId") String sessionId, @Bind("afterId") long afterId,
      @Bind("limit") int limit);

  @SqlQuery("SELECT " + PARTICIPANT_COLUMNS + " FROM participants WHERE session_id = :sessionId AND present ORDER BY id")
  List<ParticipantRow> presentParticipants(@Bind("sessionId") String sessionId);

  /** Roles on the roster of which nobody ever joined. */
  @SqlQuery("""
      SELECT role FROM participants WHERE session_id = :sessionId
      GROUP BY role HAVING bool_and(first_join_time IS NULL)
      ORDER BY role
      """)
  List<String> rolesNeverJoined(@Bind("sessionId") String sessionId);

  @SqlQuery("SELECT count(*) FROM participants WHERE session_id = :sessionId")
  int rosterSize(@Bind("sessionId") String sessionId);

  @SqlUpdate("""
      UPDATE participants SET present = :p.present, first_join_time = :p.firstJoinTime,
          last_join_time = :p.lastJoinTime, last_leave_time = :p.lastLeaveTime, connected_ms = :p.connectedMs,
          join_count = :p.joinCount
      WHERE id = :p.id
      """)
  void updatePresence(@BindMethods("p") ParticipantRow participant);

  @SqlUpdate("DELETE FROM participants WHERE id = :id")
  void deleteParticipant(@Bind("id") long id);

  // --- statistics ---------------------------------------------------------------------------

  /** Per status: how many sessions, and the summed duration of those with both start and end. */
  record StatusTotals(String status, long sessions, long durationMs) {}

  @SqlQuery("""
      SELECT s.status, count(*) AS sessions,
             coalesce(sum(extract(epoch FROM s.end_time - s.start_time) * 1000)
                 FILTER (WHERE s.start_time IS NOT NULL AND s.end_time IS NOT NULL), 0)::bigint AS duration_ms
      FROM sessions s
      WHERE s.tenant_id = :tenantId AND s.scheduled_start_time >= :from AND s.scheduled_start_time < :before
        AND (CAST(:hostUserId AS text) IS NULL OR EXISTS (
              SELECT 1 FROM participants p
              WHERE p.session_id = s.id AND p.user_id = :hostUserId AND p.role = 'HOST'))
      GROUP BY s.status
      ORDER BY s.status
      """)
  List<StatusTotals> totals(@Bind("tenantId") String tenantId, @Bind("hostUserId") String hostUserId,
      @Bind("from") Instant from, @Bind("before") Instant before);
}
