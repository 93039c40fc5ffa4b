package dev.convene.server.platform;

import com.google.protobuf.ListValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.convene.server.db.Json;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.SqlStatement;
import org.jdbi.v3.core.statement.StatementContext;

/**
 * The one append-only event log of every aggregate, in table {@code events} (see migration V3
 * for why {@code position} never lets a follower skip an event). Appends happen only through a
 * {@link Tx}, in the transaction of the change they record.
 */
public final class EventLog {
  /** The most events one transaction may append: the low 16 bits of a position number them. */
  static final int MAX_EVENTS_PER_TRANSACTION = 1 << 16;

  /**
   * Maps {@code position, aggregate_type, aggregate_id, aggregate_seq, type, actor, event_time,
   * payload::text}: for views of the log that other features query (a group's activity feed).
   */
  public static final RowMapper<EventRow> ROW = EventLog::row;

  private static final String COLUMNS =
      "position, aggregate_type, aggregate_id, aggregate_seq, type, actor, event_time, payload::text AS payload";

  private final Jdbi jdbi;

  public EventLog(Jdbi jdbi) {
    this.jdbi = jdbi;
  }

  /** An event a transaction appends; written when the transaction flushes. */
  record Pending(String aggregateType, String aggregateId, String type, String payload) {}

  /**
   * Writes a transaction's events (one statement). Each aggregate's sequence continues from its
   * highest stored one, read by this statement, after the caller took the aggregate's row lock.
   */
  static final String INSERT = """
      INSERT INTO events (tenant_id, position, aggregate_type, aggregate_id, aggregate_seq, type, actor,
          event_time, payload)
      SELECT :tenantId, pg_current_xact_id()::text::bigint * 65536 + :offset + e.n - 1,
             e.aggregate_type, e.aggregate_id,
             coalesce((SELECT max(x.aggregate_seq) FROM events x
                       WHERE x.tenant_id = :tenantId AND x.aggregate_type = e.aggregate_type
                         AND x.aggregate_id = e.aggregate_id), 0)
               + row_number() OVER (PARTITION BY e.aggregate_type, e.aggregate_id ORDER BY e.n),
             e.type, :actor, :time, CAST(e.payload AS jsonb)
      FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[]), CAST(:kinds AS text[]), CAST(:payloads AS text[]))
           WITH ORDINALITY AS e(aggregate_type, aggregate_id, type, payload, n)
      """;

  /** Binds {@link #INSERT}'s parameters (besides :tenantId); {@code offset} counts events written before. */
  static void bind(SqlStatement<?> statement, String actor, Instant time, List<Pending> events, int offset) {
    if (offset + events.size() > MAX_EVENTS_PER_TRANSACTION) {
      throw new IllegalStateException("a transaction may append at most " + MAX_EVENTS_PER_TRANSACTION + " events");
    }
    statement.bind("offset", offset).bind("actor", actor).bind("time", time)
        .bind("types", SqlArrays.column(events, Pending::aggregateType))
        .bind("ids", SqlArrays.column(events, Pending::aggregateId))
        .bind("kinds", SqlArrays.column(events, Pending::type))
        .bind("payloads", SqlArrays.column(events, Pending::payload));
  }

  /** One aggregate's events after {@code afterSeq}, in order. */
  public List<EventRow> ofAggregate(String tenantId, String aggregateType, String aggregateId, long afterSeq,
      int limit) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + COLUMNS + """
             FROM events
            WHERE tenant_id = :tenantId AND aggregate_type = :type AND aggregate_id = :id AND aggregate_seq > :after
            ORDER BY aggregate_seq
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("type", aggregateType).bind("id", aggregateId).bind("after", afterSeq)
        .bind("limit", limit).map(ROW).list());
  }

  /** The tenant's event at {@code position}. */
  public java.util.Optional<EventRow> at(String tenantId, long position) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + COLUMNS
            + " FROM events WHERE tenant_id = :tenantId AND position = :position")
        .bind("tenantId", tenantId).bind("position", position).map(ROW).findOne());
  }

  /**
   * The tenant's events after {@code afterPosition} in position order, up to the oldest
   * transaction still running: what a follower reads next, never skipping one that commits late.
   */
  public List<EventRow> follow(String tenantId, long afterPosition, int limit) {
    return jdbi.withHandle(h -> h.createQuery("SELECT " + COLUMNS + """
             FROM events
            WHERE tenant_id = :tenantId AND position > :after
              AND position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536
            ORDER BY position
            LIMIT :limit
            """)
        .bind("tenantId", tenantId).bind("after", afterPosition).bind("limit", limit).map(ROW).list());
  }

  /**
   * The highest position no transaction can still add below: the log up to here is final, and what
   * commits later lies above it. A follower that starts "from now" starts here.
   */
  public long readableHead() {
    return jdbi.withHandle(h -> h.createQuery("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536 - 1")
        .mapTo(Long.class).one());
  }

  private static EventRow row(ResultSet rs, StatementContext ctx) throws SQLException {
    return new EventRow(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getLong(4), rs.getString(5),
        rs.getString(6), rs.getObject(7, OffsetDateTime.class).toInstant(), rs.getString(8));
  }

  /** A payload map (strings, numbers, booleans, lists) as the JSON text stored in the log. */
  static String payloadJson(Map<String, ?> payload) {
    Struct.Builder b = Struct.newBuilder();
    payload.forEach((k, v) -> b.putFields(k, value(v)));
    return Json.print(b);
  }

  /** A stored payload as a Struct, for the protos that show events. */
  public static Struct payload(EventRow row) {
    Struct.Builder payload = Struct.newBuilder();
    Json.merge(row.payload(), payload);
    return payload.build();
  }

  private static Value value(Object v) {
    if (v instanceof Number n) {
      return Value.newBuilder().setNumberValue(n.doubleValue()).build();
    }
    if (v instanceof Boolean bool) {
      return Value.newBuilder().setBoolValue(bool).build();
    }
    if (v instanceof List<?> list) {
      ListValue.Builder lb = ListValue.newBuilder();
      list.forEach(item -> lb.addValues(value(item)));
      return Value.newBuilder().setListValue(lb).build();
    }
    return Value.newBuilder().setStringValue(String.valueOf(v)).build();
  }
}
