package dev.convene.server.group;

import dev.convene.server.platform.EventLog;
import dev.convene.server.platform.EventRow;
import dev.convene.server.platform.Tx;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.Query;

/** The groups, group_members and group_calls tables. Changes run under the group's row lock. */
final class Groups {
  /** A stored group. */
  record Row(String tenantId, String id, String name, String description, String media, int memberCount,
      String liveSessionId, byte[] fingerprint, Instant createTime, Instant updateTime) {
    Row withFields(String name, String description, String media, Instant now) {
      return new Row(tenantId, id, name, description, media, memberCount, liveSessionId, fingerprint, createTime, now);
    }
  }

  /** A member of a group; {@code role} is OWNER or MEMBER; {@code displayName} from its profile, when read with one. */
  record Member(String groupId, String userId, String role, Instant addTime, String displayName) {
    boolean owner() {
      return role.equals(OWNER);
    }

    Member named(String displayName) {
      return new Member(groupId, userId, role, addTime, displayName);
    }
  }

  static final String OWNER = "OWNER";
  static final String MEMBER = "MEMBER";

  /**
   * A group's columns; with {@link #LIVE} joined, its live call only while that call's session has
   * not ended (a call also ends by itself: its empty timeout, a no-show).
   */
  private static final String COLUMNS = columns(
      "CASE WHEN ls.status IN ('SCHEDULED', 'WAITING', 'IN_PROGRESS') THEN g.live_session_id END");
  /** The columns of a locked group: its stored live call (see {@link #lock}). */
  private static final String LOCK_COLUMNS = columns("g.live_session_id");
  private static final String LIVE = " LEFT JOIN sessions ls ON ls.tenant_id = g.tenant_id AND ls.id = g.live_session_id";

  private static String columns(String live) {
    return "g.tenant_id, g.id, g.name, g.description, g.media, g.member_count, " + live
        + ", g.request_fingerprint, g.create_time, g.update_time";
  }

  private static final String MEMBER_COLUMNS = "m.group_id, m.user_id, m.role, m.add_time";

  private Groups() {}

  /** Inserts a new group; false when another create took its request id meanwhile. */
  static boolean insert(Tx tx, Row g, String requestId) {
    return tx.handle().createUpdate("""
            INSERT INTO groups (tenant_id, id, name, description, media, member_count, request_id,
                                request_fingerprint, create_time, update_time)
            VALUES (:tenantId, :id, :name, :description, :media, 0, :requestId, :fingerprint, :now, :now)
            ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
            """)
        .bind("tenantId", tx.tenantId()).bind("id", g.id()).bind("name", g.name()).bind("description", g.description())
        .bind("media", g.media()).bind("requestId", requestId).bind("fingerprint", g.fingerprint())
        .bind("now", g.createTime()).execute() == 1;
  }

  static Optional<Row> byRequestId(Handle h, String tenantId, String requestId) {
    return h.createQuery("SELECT " + COLUMNS + " FROM groups g" + LIVE + " WHERE g.tenant_id = :tenantId AND g.request_id = :requestId")
        .bind("tenantId", tenantId).bind("requestId", requestId).map((rs, ctx) -> row(rs)).findOne();
  }

  static Optional<Row> get(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + COLUMNS + " FROM groups g" + LIVE + " WHERE g.tenant_id = :tenantId AND g.id = :id")
        .bind("tenantId", tenantId).bind("id", id).map((rs, ctx) -> row(rs)).findOne();
  }

  /**
   * The group, locked: every change to it or its members starts here. Its {@code liveSessionId} is
   * the stored one, whether or not that call has ended since: a session joined to the locking
   * statement would be read from the snapshot taken before the lock wait, so a start that waited
   * for another would not see the call that one started. The caller locks the session to find out.
   */
  static Optional<Row> lock(Tx tx, String id) {
    return tx.handle().createQuery("SELECT " + LOCK_COLUMNS
            + " FROM groups g WHERE g.tenant_id = :tenantId AND g.id = :id FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("id", id).map((rs, ctx) -> tx.locked(row(rs))).findOne();
  }

  static void update(Tx tx, Row g) {
    tx.handle().createUpdate("""
            UPDATE groups SET name = :name, description = :description, media = :media, update_time = :now
            WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("name", g.name()).bind("description", g.description()).bind("media", g.media())
        .bind("now", g.updateTime()).bind("tenantId", tx.tenantId()).bind("id", g.id()).execute();
  }

  static void delete(Tx tx, String id) {
    tx.handle().createUpdate("DELETE FROM groups WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tx.tenantId()).bind("id", id).execute();
  }

  static void setLive(Tx tx, String id, String sessionId) {
    tx.handle().createUpdate("UPDATE groups SET live_session_id = :sessionId WHERE tenant_id = :tenantId AND id = :id")
        .bind("sessionId", sessionId).bind("tenantId", tx.tenantId()).bind("id", id).execute();
  }

  // --- members ----------------------------------------------------------------------------------

  static Optional<Member> member(Handle h, String tenantId, String groupId, String userId) {
    return h.createQuery("SELECT " + MEMBER_COLUMNS
            + " FROM group_members m WHERE m.tenant_id = :tenantId AND m.group_id = :groupId AND m.user_id = :userId")
        .bind("tenantId", tenantId).bind("groupId", groupId).bind("userId", userId).map((rs, ctx) -> member(rs))
        .findOne();
  }

  /**
   * Serialises changes to {@code userId}'s memberships across groups (the per-user group limit): a
   * transaction-scoped advisory lock, taken after the group's row lock.
   */
  static void lockUser(Tx tx, String userId) {
    tx.lockKey("group_member/" + userId);
  }

  /** How many groups {@code userId} belongs to. */
  static int groupCount(Tx tx, String userId) {
    return tx.handle().createQuery("SELECT count(*) FROM group_members WHERE tenant_id = :tenantId AND user_id = :userId")
        .bind("tenantId", tx.tenantId()).bind("userId", userId).mapTo(Integer.class).one();
  }

  /** Adds a member of the locked group; empty when the user is a member already. */
  static Optional<Member> addMember(Tx tx, String groupId, String userId, String role) {
    Optional<Member> added = tx.handle().createQuery("""
            INSERT INTO group_members (tenant_id, group_id, user_id, role, add_time)
            VALUES (:tenantId, :groupId, :userId, :role, :now)
            ON CONFLICT DO NOTHING
            RETURNING group_id, user_id, role, add_time
            """)
        .bind("tenantId", tx.tenantId()).bind("groupId", groupId).bind("userId", userId).bind("role", role)
        .bind("now", tx.now()).map((rs, ctx) -> member(rs)).findOne();
    added.ifPresent(m -> countMembers(tx, groupId, 1));
    return added;
  }

  static void removeMember(Tx tx, String groupId, String userId) {
    int removed = tx.handle().createUpdate(
            "DELETE FROM group_members WHERE tenant_id = :tenantId AND group_id = :groupId AND user_id = :userId")
        .bind("tenantId", tx.tenantId()).bind("groupId", groupId).bind("userId", userId).execute();
    countMembers(tx, groupId, -removed);
  }

  private static void countMembers(Tx tx, String groupId, int delta) {
    tx.handle().createUpdate("UPDATE groups SET member_count = member_count + :delta WHERE tenant_id = :tenantId AND id = :id")
        .bind("delta", delta).bind("tenantId", tx.tenantId()).bind("id", groupId).execute();
  }

  static Member setRole(Tx tx, Member m, String role) {
    tx.handle().createUpdate("""
            UPDATE group_members SET role = :role WHERE tenant_id = :tenantId AND group_id = :groupId AND user_id = :userId
            """)
        .bind("role", role).bind("tenantId", tx.tenantId()).bind("groupId", m.groupId()).bind("userId", m.userId())
        .execute();
    return new Member(m.groupId(), m.userId(), role, m.addTime(), m.displayName());
  }

  /** How many OWNERs the locked group has. */
  static int ownerCount(Tx tx, String groupId) {
    return tx.handle().createQuery(
            "SELECT count(*) FROM group_members WHERE tenant_id = :tenantId AND group_id = :groupId AND role = 'OWNER'")
        .bind("tenantId", tx.tenantId()).bind("groupId", groupId).mapTo(Integer.class).one();
  }

  /** A page of members, owners first, then by user id, after ({@code afterRank}, {@code afterUser}). */
  static List<Member> members(Handle h, String tenantId, String groupId, Integer afterRank, String afterUser, int limit) {
    Query q = h.createQuery("SELECT " + MEMBER_COLUMNS + ", coalesce(u.display_name, '')" + """
             FROM group_members m LEFT JOIN users u ON u.tenant_id = m.tenant_id AND u.user_id = m.user_id
            WHERE m.tenant_id = :tenantId AND m.group_id = :groupId
            """ + (afterRank == null ? "" : " AND (CASE m.role WHEN 'OWNER' THEN 0 ELSE 1 END, m.user_id) > (:rank, :user)")
            + " ORDER BY CASE m.role WHEN 'OWNER' THEN 0 ELSE 1 END, m.user_id LIMIT :limit")
        .bind("tenantId", tenantId).bind("groupId", groupId).bind("limit", limit);
    if (afterRank != null) {
      q.bind("rank", afterRank).bind("user", afterUser);
    }
    return q.map((rs, ctx) -> member(rs).named(rs.getString(5))).list();
  }

  /** Every member of the locked group (at most the member limit). */
  static List<Member> allMembers(Tx tx, String groupId) {
    return members(tx.handle(), tx.tenantId(), groupId, null, null, GroupService.MAX_MEMBERS);
  }

  /** A group and the listing user's role in it ({@code role} null when listed for the tenant). */
  record Listed(Row group, String role) {}

  /**
   * A page of the tenant's groups, newest first, after ({@code afterTime}, {@code afterId}): all of
   * them, or with {@code userId} those it belongs to (with {@code role}, only in that role).
   */
  static List<Listed> list(Handle h, String tenantId, String userId, String role, Instant afterTime, String afterId,
      int limit) {
    return list(h, tenantId, userId, role, null, afterTime, afterId, limit);
  }

  /** Like {@link #list}, but with {@code ids} set: only those groups (the groups a user is invited to). */
  static List<Listed> list(Handle h, String tenantId, String userId, String role, List<String> ids, Instant afterTime,
      String afterId, int limit) {
    String from = ids != null ? " FROM groups g" + LIVE + " WHERE g.tenant_id = :tenantId AND g.id = ANY(CAST(:ids AS text[]))"
        : userId == null ? " FROM groups g" + LIVE + " WHERE g.tenant_id = :tenantId"
        : " FROM group_members m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id" + LIVE
            + " WHERE m.tenant_id = :tenantId AND m.user_id = :userId" + (role == null ? "" : " AND m.role = :role");
    Query q = h.createQuery("SELECT " + COLUMNS + (userId == null || ids != null ? ", NULL" : ", m.role") + from
            + (afterTime == null ? "" : " AND (g.create_time, g.id) < (:afterTime, :afterId)")
            + " ORDER BY g.create_time DESC, g.id DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("userId", userId).bind("role", role).bind("limit", limit)
        .bind("ids", ids == null ? null : ids.toArray(String[]::new));
    if (afterTime != null) {
      q.bind("afterTime", afterTime).bind("afterId", afterId);
    }
    return q.map((rs, ctx) -> new Listed(row(rs), rs.getString(11))).list();
  }

  // --- calls ------------------------------------------------------------------------------------

  static void insertCall(Tx tx, String sessionId, String groupId, String startedBy) {
    tx.handle().createUpdate("""
            INSERT INTO group_calls (tenant_id, session_id, group_id, started_by, start_time)
            VALUES (:tenantId, :sessionId, :groupId, :startedBy, :now)
            """)
        .bind("tenantId", tx.tenantId()).bind("sessionId", sessionId).bind("groupId", groupId)
        .bind("startedBy", startedBy).bind("now", tx.now()).execute();
  }

  /** How many calls the group has had. */
  static int callCount(Tx tx, String groupId) {
    return tx.handle().createQuery("SELECT count(*) FROM group_calls WHERE tenant_id = :tenantId AND group_id = :groupId")
        .bind("tenantId", tx.tenantId()).bind("groupId", groupId).mapTo(Integer.class).one();
  }

  /** Who started the call in session {@code sessionId}. */
  static Optional<String> startedBy(Handle h, String tenantId, String sessionId) {
    return h.createQuery("SELECT started_by FROM group_calls WHERE tenant_id = :tenantId AND session_id = :sessionId")
        .bind("tenantId", tenantId).bind("sessionId", sessionId).mapTo(String.class).findOne();
  }

  /** The sessions of the group's calls started in [{@code from}, {@code to}). */
  static List<String> calls(Handle h, String tenantId, String groupId, Instant from, Instant to) {
    return h.createQuery("""
            SELECT session_id FROM group_calls
            WHERE tenant_id = :tenantId AND group_id = :groupId AND start_time >= :from AND start_time < :to
            """)
        .bind("tenantId", tenantId).bind("groupId", groupId).bind("from", from).bind("to", to)
        .mapTo(String.class).list();
  }

  // --- the activity feed ------------------------------------------------------------------------

  /**
   * A page of the group's activity, newest first, before {@code beforePosition} (null: the newest):
   * the group's own events and, of its calls' sessions, joins, leaves and terminal status changes.
   */
  static List<EventRow> activities(Handle h, String tenantId, String groupId, Long beforePosition, int limit) {
    String before = beforePosition == null ? "" : " AND e.position < :before";
    String own = "SELECT " + EVENT_COLUMNS + " FROM events e"
        + " WHERE e.tenant_id = :tenantId AND e.aggregate_type = :aggregate AND e.aggregate_id = :groupId" + before;
    String calls = "SELECT " + EVENT_COLUMNS + " FROM group_calls c"
        + " JOIN events e ON e.tenant_id = c.tenant_id AND e.aggregate_type = 'session' AND e.aggregate_id = c.session_id"
        + " WHERE c.tenant_id = :tenantId AND c.group_id = :groupId"
        + " AND (e.type IN ('PARTICIPANT_JOINED', 'PARTICIPANT_LEFT') OR (e.type = 'STATUS_CHANGED'"
        + " AND e.payload ->> 'to' IN ('COMPLETED', 'CANCELLED', 'NO_SHOW', 'FAILED')))" + before;
    Query q = h.createQuery(own + " UNION ALL " + calls + " ORDER BY position DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("aggregate", GroupService.AGGREGATE).bind("groupId", groupId)
        .bind("limit", limit);
    if (beforePosition != null) {
      q.bind("before", beforePosition);
    }
    return q.map(EventLog.ROW).list();
  }

  /** The columns {@link EventLog#ROW} maps, of {@code events e}. */
  private static final String EVENT_COLUMNS = "e.position, e.aggregate_type, e.aggregate_id, e.aggregate_seq, e.type,"
      + " e.actor, e.event_time, e.payload::text AS payload";

  private static Row row(ResultSet rs) throws SQLException {
    return new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5), rs.getInt(6),
        rs.getString(7), rs.getBytes(8), rs.getObject(9, OffsetDateTime.class).toInstant(),
        rs.getObject(10, OffsetDateTime.class).toInstant());
  }

  private static Member member(ResultSet rs) throws SQLException {
    return new Member(rs.getString(1), rs.getString(2), rs.getString(3), rs.getObject(4, OffsetDateTime.class).toInstant(),
        "");
  }
}
