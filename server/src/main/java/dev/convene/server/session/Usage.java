package dev.convene.server.session;

import java.time.Instant;
import java.util.List;
import org.jdbi.v3.core.Handle;

/**
 * What calls used, from Convene's own presence records: a call is a session in which someone
 * connected; connected time is the participants' completed join/leave cycles
 * ({@code participants.connected_ms}); the peak is the most present at once, replayed from the
 * session's PARTICIPANT_JOINED and PARTICIPANT_LEFT events (a terminal move logs a leave for
 * everyone still present, so the replay always comes back to zero).
 */
public final class Usage {
  private Usage() {}

  /** Calls, connected milliseconds in all, the most participants present at once. */
  public record Totals(long calls, long connectedMs, int peak) {}

  /** One user's share. */
  public record PerUser(String userId, long calls, long connectedMs) {}

  /** One calendar month (UTC, {@code 2026-11}) of calls scheduled to start in it; {@code users} who connected. */
  public record Month(String month, Totals totals, long users) {}

  /**
   * The running count of present participants of each session in {@code sessions} (a subquery of
   * session ids), per event: its maximum is the peak.
   */
  private static String running(String sessions) {
    return """
        SELECT e.aggregate_id,
               sum(CASE WHEN e.type = 'PARTICIPANT_JOINED' THEN 1 ELSE -1 END)
                 OVER (PARTITION BY e.aggregate_id ORDER BY e.aggregate_seq) AS running
          FROM events e
         WHERE e.tenant_id = :tenantId AND e.aggregate_type = 'session' AND e.aggregate_id IN (%s)
           AND e.type IN ('PARTICIPANT_JOINED', 'PARTICIPANT_LEFT')""".formatted(sessions);
  }

  /** The usage of the tenant's sessions {@code sessionIds}. */
  public static Totals of(Handle h, String tenantId, List<String> sessionIds) {
    String[] ids = sessionIds.toArray(String[]::new);
    return h.createQuery("""
            SELECT count(DISTINCT session_id), coalesce(sum(connected_ms), 0),
                   (SELECT coalesce(max(running), 0) FROM (""" + running("SELECT unnest(CAST(:ids AS text[]))") + """
            ) x) FROM participants
             WHERE tenant_id = :tenantId AND session_id = ANY(CAST(:ids AS text[])) AND join_count > 0
            """)
        .bind("tenantId", tenantId).bind("ids", ids)
        .map((rs, ctx) -> new Totals(rs.getLong(1), rs.getLong(2), rs.getInt(3))).one();
  }

  /** Each user's share of the tenant's sessions {@code sessionIds}, most connected first; at most {@code limit}. */
  public static List<PerUser> perUser(Handle h, String tenantId, List<String> sessionIds, int limit) {
    return h.createQuery("""
            SELECT user_id, count(*), sum(connected_ms) FROM participants
             WHERE tenant_id = :tenantId AND session_id = ANY(CAST(:ids AS text[])) AND join_count > 0
             GROUP BY user_id
             ORDER BY sum(connected_ms) DESC, user_id
             LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("ids", sessionIds.toArray(String[]::new)).bind("limit", limit)
        .map((rs, ctx) -> new PerUser(rs.getString(1), rs.getLong(2), rs.getLong(3))).list();
  }

  /** The tenant's usage per month of sessions scheduled to start in [{@code from}, {@code to}), oldest first. */
  public static List<Month> perMonth(Handle h, String tenantId, Instant from, Instant to) {
    return h.createQuery("""
            WITH calls AS (
              SELECT s.id, to_char(s.scheduled_start_time AT TIME ZONE 'UTC', 'YYYY-MM') AS month
                FROM sessions s
               WHERE s.tenant_id = :tenantId AND s.scheduled_start_time >= :from AND s.scheduled_start_time < :to
                 AND EXISTS (SELECT 1 FROM participants p
                              WHERE p.tenant_id = s.tenant_id AND p.session_id = s.id AND p.join_count > 0)),
            presence AS (
              SELECT c.month, p.session_id, p.user_id, p.connected_ms
                FROM calls c JOIN participants p ON p.tenant_id = :tenantId AND p.session_id = c.id
               WHERE p.join_count > 0),
            peaks AS (
              SELECT c.month, max(x.running) AS peak
                FROM calls c JOIN (""" + running("SELECT id FROM calls") + """
                ) x ON x.aggregate_id = c.id
               GROUP BY c.month)
            SELECT p.month, count(DISTINCT p.session_id), sum(p.connected_ms), coalesce(max(k.peak), 0),
                   count(DISTINCT p.user_id)
              FROM presence p LEFT JOIN peaks k ON k.month = p.month
             GROUP BY p.month
             ORDER BY p.month
            """)
        .bind("tenantId", tenantId).bind("from", from).bind("to", to)
        .map((rs, ctx) -> new Month(rs.getString(1), new Totals(rs.getLong(2), rs.getLong(3), rs.getInt(4)),
            rs.getLong(5)))
        .list();
  }
}
