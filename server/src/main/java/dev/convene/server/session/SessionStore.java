package dev.convene.server.session;

import dev.convene.server.platform.SqlArrays;
import dev.convene.v1.ParticipantSpec;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;
import org.jdbi.v3.core.ConnectionException;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.SqlStatement;
import org.jdbi.v3.core.statement.StatementContext;

/**
 * The SQL of sessions and their rosters. Every statement filters by tenant. Reads open their own
 * handle (GetSession's, plain JDBC); changes take the {@link dev.convene.server.platform.Tx}'s handle. Rows are mapped by
 * column position with mappers made once, so a read costs its round trip and little else.
 */
final class SessionStore {
  static final String SESSION_COLUMNS = """
      s.id, s.tenant_id, s.external_ref, s.request_id, s.title, s.media, s.status,
      s.scheduled_start_time, s.scheduled_end_time, s.max_participants, s.lobby_enabled,
      s.no_show_grace_ms, s.empty_timeout_ms, s.metadata::text AS metadata, s.status_reason,
      s.missing_roles, s.create_time, s.update_time, s.start_time, s.end_time, s.empty_since,
      s.no_show_deadline, s.present_count, s.join_lead_ms, s.provider, s.provider_room, s.provider_room_sid,
      s.room_state, s.duplicate_identity, s.recording, s.recording_change_time, s.recording_stop_reason
      """;

  static final String PARTICIPANT_COLUMNS = """
      id, session_id, user_id, display_name, role, present, first_join_time, last_join_time,
      last_leave_time, connected_ms, join_count, add_time, banned, admission, lobby_enter_time,
      recording_consent, recording_consent_time
      """;

  /**
   * {@link #PARTICIPANT_COLUMNS} of {@code participants p} joined with {@link #WITH_PROFILE}: a roster
   * entry without a display name shows its user's profile name (UserService).
   */
  static final String PROFILED_PARTICIPANT_COLUMNS = java.util.Arrays.stream(PARTICIPANT_COLUMNS.split(","))
      .map(String::strip).map(c -> c.equals("display_name")
          ? "coalesce(nullif(p.display_name, ''), u.display_name, '') AS display_name" : "p." + c)
      .collect(java.util.stream.Collectors.joining(", "));
  static final String WITH_PROFILE =
      " FROM participants p LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.user_id = p.user_id ";

  static final RowMapper<SessionRow> SESSION = SessionStore::session;
  static final RowMapper<ParticipantRow> PARTICIPANT = SessionStore::participant;

  private final Jdbi jdbi;
  private final DataSource dataSource;

  SessionStore(Jdbi jdbi, DataSource dataSource) {
    this.jdbi = jdbi;
    this.dataSource = dataSource;
  }

  // --- reads ------------------------------------------------------------------------------------

  private static final String FIND = "SELECT " + SESSION_COLUMNS
      + " FROM sessions s WHERE s.tenant_id = ? AND s.id = ?";

  /**
   * GetSession's read, the call clients poll. Plain JDBC on the pool: Jdbi's per-statement setup
   * (handle, statement context, argument binding, result iterator) cost about a quarter of this
   * call's throughput in an A/B run on the benchmark (see server/bench/ghz.sh). Errors surface as
   * Jdbi's, so they map the same way.
   */
  Optional<SessionRow> find(String tenantId, String id) {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(FIND)) {
      ps.setString(1, tenantId);
      ps.setString(2, id);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(session(rs, null)) : Optional.empty();
      }
    } catch (SQLException e) {
      throw new ConnectionException(e);
    }
  }

  /** A session created with a request id, and the fingerprint of the request that created it. */
  record Created(SessionRow session, byte[] fingerprint) {}

  Optional<Created> findByRequestId(String tenantId, String requestId) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + SESSION_COLUMNS
            + ", s.request_fingerprint FROM sessions s WHERE s.tenant_id = :tenantId AND s.request_id = :requestId")
        .bind("tenantId", tenantId).bind("requestId", requestId)
        .map((rs, ctx) -> new Created(session(rs, ctx), rs.getBytes(FINGERPRINT_COLUMN))).findOne());
  }

  /** Where request_fingerprint follows SESSION_COLUMNS. */
  private static final int FINGERPRINT_COLUMN = 33;

  /** A page of the tenant's sessions by scheduled start, then id, after the keyset cursor. */
  List<SessionRow> list(String tenantId, String status, String externalRef, String userId, Instant from,
      Instant before, Instant afterTime, String afterId, int limit) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + SESSION_COLUMNS + """
            FROM sessions s
            WHERE s.tenant_id = :tenantId
              AND (CAST(:status AS text) IS NULL OR s.status = :status)
              AND (CAST(:externalRef AS text) IS NULL OR s.external_ref = :externalRef)
              AND (CAST(:userId AS text) IS NULL OR EXISTS (
                    SELECT 1 FROM participants p
                    WHERE p.tenant_id = s.tenant_id AND p.session_id = s.id AND p.user_id = :userId))
              AND (CAST(:from AS timestamptz) IS NULL OR s.scheduled_start_time >= :from)
              AND (CAST(:before AS timestamptz) IS NULL OR s.scheduled_start_time < :before)
              AND (CAST(:afterTime AS timestamptz) IS NULL OR (s.scheduled_start_time, s.id) > (:afterTime, :afterId))
            ORDER BY s.scheduled_start_time, s.id
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("status", status).bind("externalRef", externalRef).bind("userId", userId)
        .bind("from", from).bind("before", before).bind("afterTime", afterTime).bind("afterId", afterId)
        .bind("limit", limit).map(SESSION).list());
  }

  /**
   * A page of the sessions on {@code userId}'s roster that have not ended and end after {@code now},
   * soonest first, after ({@code afterTime}, {@code afterId}).
   */
  static List<SessionRow> upcoming(Handle h, String tenantId, String userId, Instant now, Instant afterTime,
      String afterId, int limit) {
    return h.createQuery("SELECT " + SESSION_COLUMNS + """
            FROM participants p JOIN sessions s ON s.tenant_id = p.tenant_id AND s.id = p.session_id
            WHERE p.tenant_id = :tenantId AND p.user_id = :userId
              AND s.status IN ('SCHEDULED', 'WAITING', 'IN_PROGRESS') AND s.scheduled_end_time > :now
              AND (CAST(:afterTime AS timestamptz) IS NULL OR (s.scheduled_start_time, s.id) > (:afterTime, :afterId))
            ORDER BY s.scheduled_start_time, s.id
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("userId", userId).bind("now", now).bind("afterTime", afterTime)
        .bind("afterId", afterId).bind("limit", limit).map(SESSION).list();
  }

  /** A page of a session's roster in the order it was added; empty if the tenant has no such session. */
  List<ParticipantRow> listParticipants(String tenantId, String sessionId, long afterId, int limit) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + PROFILED_PARTICIPANT_COLUMNS + WITH_PROFILE + """
            WHERE p.tenant_id = :tenantId AND p.session_id = :sessionId AND p.id > :afterId
            ORDER BY p.id
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("afterId", afterId).bind("limit", limit)
        .map(PARTICIPANT).list());
  }

  /** The tenant's session, unlocked, through Jdbi (for other features' reads inside their own handle). */
  static Optional<SessionRow> read(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + SESSION_COLUMNS + " FROM sessions s WHERE s.tenant_id = :tenantId AND s.id = :id")
        .bind("tenantId", tenantId).bind("id", id).map(SESSION).findOne();
  }

  /** The session's roster, present participants first, then in roster order. */
  static List<ParticipantRow> roster(Handle h, String tenantId, String sessionId, int limit) {
    return h.createQuery("SELECT " + PROFILED_PARTICIPANT_COLUMNS + WITH_PROFILE + """
            WHERE p.tenant_id = :tenantId AND p.session_id = :sessionId
            ORDER BY p.present DESC, p.id
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("limit", limit).map(PARTICIPANT).list();
  }

  /** Who waits in the session's lobby, longest waiting first. */
  static List<ParticipantRow> lobby(Handle h, String tenantId, String sessionId, int limit) {
    return h.createQuery("SELECT " + PARTICIPANT_COLUMNS + """
            FROM participants
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND admission = 'WAITING'
            ORDER BY lobby_enter_time, id
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("limit", limit).map(PARTICIPANT).list();
  }

  boolean exists(String tenantId, String id) {
    return jdbi.withHandle(h -> h.createQuery("SELECT EXISTS (SELECT 1 FROM sessions WHERE tenant_id = :tenantId AND id = :id)")
        .bind("tenantId", tenantId).bind("id", id).mapTo(boolean.class).one());
  }

  /** Per status: how many sessions, and the summed duration of those with both start and end. */
  record StatusTotals(String status, long sessions, long durationMs) {}

  List<StatusTotals> totals(String tenantId, String hostUserId, Instant from, Instant before) {
    return jdbi.withHandle(h -> h.createQuery("""
            SELECT s.status, count(*) AS sessions,
                   coalesce(sum(extract(epoch FROM s.end_time - s.start_time) * 1000)
                       FILTER (WHERE s.start_time IS NOT NULL AND s.end_time IS NOT NULL), 0)::bigint AS duration_ms
            FROM sessions s
            WHERE s.tenant_id = :tenantId AND s.scheduled_start_time >= :from AND s.scheduled_start_time < :before
              AND (CAST(:hostUserId AS text) IS NULL OR EXISTS (
                    SELECT 1 FROM participants p
                    WHERE p.tenant_id = s.tenant_id AND p.session_id = s.id AND p.user_id = :hostUserId
                      AND p.role = 'HOST'))
            GROUP BY s.status
            ORDER BY s.status
            """)
        .bind("tenantId", tenantId).bind("hostUserId", hostUserId).bind("from", from).bind("before", before)
        .map((rs, ctx) -> new StatusTotals(rs.getString(1), rs.getLong(2), rs.getLong(3))).list());
  }

  // --- changes, in a transaction -----------------------------------------------------------------

  /**
   * Inserts the session and its initial roster in one statement and returns the session as stored;
   * empty when a concurrent retry's request_id won (then nothing is inserted).
   */
  static Optional<SessionRow> insertSession(Handle h, SessionRow s, byte[] fingerprint, List<ParticipantSpec> roster) {
    return bindRoster(h.createQuery("""
            WITH s AS (
              INSERT INTO sessions (id, tenant_id, external_ref, request_id, title, media, status,
                  scheduled_start_time, scheduled_end_time, max_participants, lobby_enabled, no_show_grace_ms,
                  empty_timeout_ms, metadata, create_time, update_time, no_show_deadline, request_fingerprint,
                  join_lead_ms, provider, duplicate_identity)
              VALUES (:id, :tenantId, :externalRef, :requestId, :title, :media, :status,
                  :scheduledStartTime, :scheduledEndTime, :maxParticipants, :lobbyEnabled, :noShowGraceMs,
                  :emptyTimeoutMs, CAST(:metadata AS jsonb), :createTime, :updateTime, :noShowDeadline, :fingerprint,
                  :joinLeadMs, :provider, :duplicateIdentity)
              ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
              RETURNING *
            ), roster AS (
              INSERT INTO participants (tenant_id, session_id, user_id, display_name, role, add_time)
              SELECT s.tenant_id, s.id, p.user_id, p.display_name, p.role, s.create_time
                FROM s, unnest(CAST(:users AS text[]), CAST(:names AS text[]), CAST(:roles AS text[]))
                        WITH ORDINALITY AS p(user_id, display_name, role, n)
               ORDER BY p.n
            )
            SELECT
            """ + SESSION_COLUMNS + " FROM s")
        .bind("id", s.id()).bind("tenantId", s.tenantId()).bind("externalRef", s.externalRef())
        .bind("requestId", s.requestId()).bind("title", s.title()).bind("media", s.media()).bind("status", s.status())
        .bind("scheduledStartTime", s.scheduledStartTime()).bind("scheduledEndTime", s.scheduledEndTime())
        .bind("maxParticipants", s.maxParticipants()).bind("lobbyEnabled", s.lobbyEnabled())
        .bind("noShowGraceMs", s.noShowGraceMs()).bind("emptyTimeoutMs", s.emptyTimeoutMs())
        .bind("metadata", s.metadata()).bind("createTime", s.createTime()).bind("updateTime", s.updateTime())
        .bind("noShowDeadline", s.noShowDeadline()).bind("fingerprint", fingerprint)
        .bind("joinLeadMs", s.joinLeadMs()).bind("provider", s.room().provider())
        .bind("duplicateIdentity", s.duplicateIdentity()), roster)
        .map(SESSION).findOne();
  }

  /** Binds a roster as the :users, :names and :roles columns of an unnest. */
  private static <S extends SqlStatement<S>> S bindRoster(S statement, List<ParticipantSpec> specs) {
    return statement.bind("users", SqlArrays.column(specs, ParticipantSpec::getUserId))
        .bind("names", SqlArrays.column(specs, ParticipantSpec::getDisplayName))
        .bind("roles", SqlArrays.column(specs, p -> SessionMapper.name(p.getRole())));
  }

  /** Locks the session row for the rest of the transaction: every change to a session starts here. */
  static Optional<SessionRow> lock(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + SESSION_COLUMNS
            + " FROM sessions s WHERE s.tenant_id = :tenantId AND s.id = :id FOR UPDATE")
        .bind("tenantId", tenantId).bind("id", id).map(SESSION).findOne();
  }

  static void updateLifecycle(Handle h, SessionRow s) {
    h.createUpdate("""
            UPDATE sessions SET status = :status, status_reason = :statusReason, missing_roles = :missingRoles,
                update_time = :updateTime, start_time = :startTime, end_time = :endTime, empty_since = :emptySince,
                present_count = :presentCount
            WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("status", s.status()).bind("statusReason", s.statusReason()).bind("missingRoles", s.missingRoles())
        .bind("updateTime", s.updateTime()).bind("startTime", s.startTime()).bind("endTime", s.endTime())
        .bind("emptySince", s.emptySince()).bind("presentCount", s.presentCount())
        .bind("tenantId", s.tenantId()).bind("id", s.id()).execute();
  }

  /**
   * Puts users on the roster in one statement, in order; returns the rows added, which are fewer
   * than {@code specs} when a user was on the roster already.
   */
  static List<ParticipantRow> insertParticipants(Handle h, String tenantId, String sessionId,
      List<ParticipantSpec> specs, Instant now) {
    return bindRoster(h.createQuery("""
            INSERT INTO participants (tenant_id, session_id, user_id, display_name, role, add_time)
            SELECT :tenantId, :sessionId, p.user_id, p.display_name, p.role, :now
              FROM unnest(CAST(:users AS text[]), CAST(:names AS text[]), CAST(:roles AS text[]))
                   WITH ORDINALITY AS p(user_id, display_name, role, n)
             ORDER BY p.n
            ON CONFLICT ON CONSTRAINT participants_user DO NOTHING
            RETURNING
            """ + PARTICIPANT_COLUMNS)
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("now", now), specs)
        .map(PARTICIPANT).list().stream().sorted(java.util.Comparator.comparingLong(ParticipantRow::id)).toList();
  }

  static Optional<ParticipantRow> findParticipant(Handle h, String tenantId, String sessionId, String userId) {
    return h.createQuery("SELECT " + PARTICIPANT_COLUMNS
            + " FROM participants WHERE tenant_id = :tenantId AND session_id = :sessionId AND user_id = :userId")
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("userId", userId).map(PARTICIPANT).findOne();
  }

  static List<ParticipantRow> presentParticipants(Handle h, String tenantId, String sessionId) {
    return h.createQuery("SELECT " + PARTICIPANT_COLUMNS
            + " FROM participants WHERE tenant_id = :tenantId AND session_id = :sessionId AND present ORDER BY id")
        .bind("tenantId", tenantId).bind("sessionId", sessionId).map(PARTICIPANT).list();
  }

  /** Roles on the roster of which nobody ever joined. */
  static List<String> rolesNeverJoined(Handle h, String tenantId, String sessionId) {
    return h.createQuery("""
            SELECT role FROM participants WHERE tenant_id = :tenantId AND session_id = :sessionId
            GROUP BY role HAVING bool_and(first_join_time IS NULL)
            ORDER BY role
            """)
        .bind("tenantId", tenantId).bind("sessionId", sessionId).mapTo(String.class).list();
  }

  static int rosterSize(Handle h, String tenantId, String sessionId) {
    return h.createQuery("SELECT count(*) FROM participants WHERE tenant_id = :tenantId AND session_id = :sessionId")
        .bind("tenantId", tenantId).bind("sessionId", sessionId).mapTo(int.class).one();
  }

  static void updatePresence(Handle h, String tenantId, ParticipantRow p) {
    h.createUpdate("""
            UPDATE participants SET present = :present, first_join_time = :firstJoinTime,
                last_join_time = :lastJoinTime, last_leave_time = :lastLeaveTime, connected_ms = :connectedMs,
                join_count = :joinCount
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND id = :id
            """)
        .bind("present", p.present()).bind("firstJoinTime", p.firstJoinTime()).bind("lastJoinTime", p.lastJoinTime())
        .bind("lastLeaveTime", p.lastLeaveTime()).bind("connectedMs", p.connectedMs()).bind("joinCount", p.joinCount())
        .bind("tenantId", tenantId).bind("sessionId", p.sessionId()).bind("id", p.id()).execute();
  }

  static void deleteParticipant(Handle h, String tenantId, ParticipantRow p) {
    h.createUpdate("DELETE FROM participants WHERE tenant_id = :tenantId AND session_id = :sessionId AND id = :id")
        .bind("tenantId", tenantId).bind("sessionId", p.sessionId()).bind("id", p.id()).execute();
  }

  // --- mapping ----------------------------------------------------------------------------------

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
    return t == null ? null : t.toInstant();
  }

  private static SessionRow session(ResultSet rs, StatementContext ctx) throws SQLException {
    Array roles = rs.getArray(16);
    return new SessionRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
        rs.getString(6), rs.getString(7), instant(rs, 8), instant(rs, 9), rs.getInt(10), rs.getBoolean(11),
        rs.getLong(12), rs.getLong(13), rs.getString(14), rs.getString(15),
        roles == null ? new String[0] : (String[]) roles.getArray(), instant(rs, 17), instant(rs, 18),
        instant(rs, 19), instant(rs, 20), instant(rs, 21), instant(rs, 22), rs.getInt(23), rs.getLong(24),
        new SessionRow.Room(rs.getString(25), rs.getString(26), rs.getString(27), rs.getString(28)),
        rs.getString(29), new SessionRow.Recording(rs.getBoolean(30), instant(rs, 31), rs.getString(32)));
  }

  private static ParticipantRow participant(ResultSet rs, StatementContext ctx) throws SQLException {
    return new ParticipantRow(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
        rs.getBoolean(6), instant(rs, 7), instant(rs, 8), instant(rs, 9), rs.getLong(10), rs.getInt(11),
        instant(rs, 12), rs.getBoolean(13), rs.getString(14), instant(rs, 15), rs.getString(16), instant(rs, 17));
  }
}
