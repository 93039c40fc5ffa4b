package dev.convene.server.webhook;

import dev.convene.server.platform.Tx;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The webhook_endpoints and webhook_deliveries tables. Changes to an endpoint run under its row lock. */
final class Endpoints {
  private Endpoints() {}

  /** A stored endpoint; the secrets stay sealed (see WebhookSecrets). */
  record Row(String tenantId, String id, String url, List<String> eventTypes, String description, byte[] secretSealed,
      byte[] previousSecretSealed, Instant previousExpireTime, boolean enabled, String disabledReason,
      Instant failingSince, long cursorPosition, byte[] fingerprint, Instant createTime, Instant updateTime) {

    /** The same endpoint with new settings, as of {@code now}. */
    Row withSettings(String url, List<String> eventTypes, String description, Instant now) {
      return new Row(tenantId, id, url, eventTypes, description, secretSealed, previousSecretSealed,
          previousExpireTime, enabled, disabledReason, failingSince, cursorPosition, fingerprint, createTime, now);
    }

    /** Enabled (failures forgotten) or disabled for {@code reason}, as of {@code now}. */
    Row withEnabled(boolean enabled, String reason, Instant now) {
      return new Row(tenantId, id, url, eventTypes, description, secretSealed, previousSecretSealed,
          previousExpireTime, enabled, reason, enabled ? null : failingSince, cursorPosition, fingerprint, createTime,
          now);
    }

    /** Signing with {@code sealed} from {@code now}; the current secret still signs until {@code previousExpire}. */
    Row withSecret(byte[] sealed, Instant previousExpire, Instant now) {
      return new Row(tenantId, id, url, eventTypes, description, sealed, secretSealed, previousExpire, enabled,
          disabledReason, failingSince, cursorPosition, fingerprint, createTime, now);
    }

    /** Failing since {@code since} (null: deliveries succeed again), as of {@code now}. */
    Row withFailingSince(Instant since, Instant now) {
      return new Row(tenantId, id, url, eventTypes, description, secretSealed, previousSecretSealed,
          previousExpireTime, enabled, disabledReason, since, cursorPosition, fingerprint, createTime, now);
    }

    /** Queued up to {@code position}. */
    Row withCursor(long position) {
      return new Row(tenantId, id, url, eventTypes, description, secretSealed, previousSecretSealed,
          previousExpireTime, enabled, disabledReason, failingSince, position, fingerprint, createTime, updateTime);
    }

    /** Whether the endpoint wants events of {@code aggregateType} and {@code type}. */
    boolean wants(String aggregateType, String type) {
      return eventTypes.isEmpty() || eventTypes.contains(aggregateType + "." + type)
          || eventTypes.contains(aggregateType + ".*");
    }
  }

  /** A delivery of one event to one endpoint. */
  record Delivery(String endpointId, String id, long position, String eventType, String status, int attempts,
      Instant nextAttemptTime, int lastStatusCode, String lastError, Instant deliveredTime, Instant createTime) {}

  static final String PENDING = "PENDING";
  static final String DELIVERED = "DELIVERED";
  static final String FAILED = "FAILED";

  private static final String COLUMNS = "tenant_id, id, url, event_types, description, secret_sealed, "
      + "previous_secret_sealed, previous_expire_time, enabled, disabled_reason, failing_since, cursor_position, "
      + "request_fingerprint, create_time, update_time";
  private static final String DELIVERY_COLUMNS = "endpoint_id, id, position, event_type, status, attempts, "
      + "next_attempt_time, last_status_code, last_error, delivered_time, create_time";

  static boolean insert(Tx tx, Row e, String requestId) {
    return tx.handle().createUpdate("INSERT INTO webhook_endpoints (" + COLUMNS + ", request_id) VALUES (:tenantId, :id, "
            + ":url, CAST(:eventTypes AS text[]), :description, :secret, NULL, NULL, true, '', NULL, :cursor, "
            + ":fingerprint, :now, :now, :requestId) "
            + "ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING")
        .bind("tenantId", e.tenantId()).bind("id", e.id()).bind("url", e.url())
        .bind("eventTypes", e.eventTypes().toArray(String[]::new)).bind("description", e.description())
        .bind("secret", e.secretSealed()).bind("cursor", e.cursorPosition()).bind("fingerprint", e.fingerprint())
        .bind("now", e.createTime()).bind("requestId", requestId).execute() == 1;
  }

  static int count(Tx tx) {
    return tx.handle().createQuery("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = :tenantId")
        .bind("tenantId", tx.tenantId()).mapTo(Integer.class).one();
  }

  static Optional<Row> get(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + COLUMNS + " FROM webhook_endpoints WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", id).map((rs, ctx) -> row(rs)).findOne();
  }

  static Optional<Row> byRequestId(Handle h, String tenantId, String requestId) {
    return h.createQuery("SELECT " + COLUMNS + " FROM webhook_endpoints WHERE tenant_id = :tenantId AND request_id = :r")
        .bind("tenantId", tenantId).bind("r", requestId).map((rs, ctx) -> row(rs)).findOne();
  }

  /** The endpoint, locked: every change to it or to its deliveries' queue starts here. */
  static Optional<Row> lock(Tx tx, String id) {
    return tx.handle().createQuery("SELECT " + COLUMNS
            + " FROM webhook_endpoints WHERE tenant_id = :tenantId AND id = :id FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("id", id).map((rs, ctx) -> tx.locked(row(rs))).findOne();
  }

  /** A page of the tenant's endpoints after ({@code afterTime}, {@code afterId}), oldest first. */
  static List<Row> list(Handle h, String tenantId, Instant afterTime, String afterId, int limit) {
    return h.createQuery("SELECT " + COLUMNS + " FROM webhook_endpoints WHERE tenant_id = :tenantId"
            + (afterId == null ? "" : " AND (create_time, id) > (:afterTime, :afterId)")
            + " ORDER BY create_time, id LIMIT :limit")
        .bind("tenantId", tenantId).bind("afterTime", afterTime).bind("afterId", afterId).bind("limit", limit)
        .map((rs, ctx) -> row(rs)).list();
  }

  static void update(Tx tx, Row e) {
    tx.handle().createUpdate("""
            UPDATE webhook_endpoints SET url = :url, event_types = CAST(:eventTypes AS text[]), description = :description,
                   secret_sealed = :secret, previous_secret_sealed = :previous, previous_expire_time = :previousExpire,
                   enabled = :enabled, disabled_reason = :reason, failing_since = :failingSince,
                   cursor_position = :cursor, update_time = :now
             WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("tenantId", e.tenantId()).bind("id", e.id()).bind("url", e.url())
        .bind("eventTypes", e.eventTypes().toArray(String[]::new)).bind("description", e.description())
        .bind("secret", e.secretSealed()).bind("previous", e.previousSecretSealed())
        .bind("previousExpire", e.previousExpireTime()).bind("enabled", e.enabled()).bind("reason", e.disabledReason())
        .bind("failingSince", e.failingSince()).bind("cursor", e.cursorPosition()).bind("now", e.updateTime())
        .execute();
  }

  static void delete(Tx tx, String id) {
    tx.handle().createUpdate("DELETE FROM webhook_endpoints WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tx.tenantId()).bind("id", id).execute();
  }

  /** Queues a delivery (once per endpoint and position). */
  static void queue(Tx tx, String endpointId, String id, long position, String eventType, Instant now) {
    tx.handle().createUpdate("""
            INSERT INTO webhook_deliveries (tenant_id, endpoint_id, id, position, event_type, status, next_attempt_time,
                                            create_time)
            VALUES (:tenantId, :endpointId, :id, :position, :eventType, 'PENDING', :now, :now)
            ON CONFLICT (tenant_id, endpoint_id, position) DO NOTHING
            """)
        .bind("tenantId", tx.tenantId()).bind("endpointId", endpointId).bind("id", id).bind("position", position)
        .bind("eventType", eventType).bind("now", now).execute();
  }

  /** The endpoint's first pending delivery in log order. */
  static Optional<Delivery> nextPending(Handle h, String tenantId, String endpointId) {
    return h.createQuery("SELECT " + DELIVERY_COLUMNS + """
             FROM webhook_deliveries
            WHERE tenant_id = :tenantId AND endpoint_id = :endpointId AND status = 'PENDING'
            ORDER BY position LIMIT 1
            """).bind("tenantId", tenantId).bind("endpointId", endpointId).map((rs, ctx) -> delivery(rs)).findOne();
  }

  /**
   * Takes the delivery for one attempt until {@code leaseUntil}: counts the attempt; empty when
   * another replica is attempting it, or it is no longer pending.
   */
  static Optional<Delivery> lease(Handle h, String tenantId, String endpointId, String id, Instant now,
      Instant leaseUntil) {
    return h.createQuery("UPDATE webhook_deliveries SET lease_until = :leaseUntil, attempts = attempts + 1"
            + " WHERE tenant_id = :tenantId AND endpoint_id = :endpointId AND id = :id AND status = 'PENDING'"
            + " AND (lease_until IS NULL OR lease_until <= :now) RETURNING " + DELIVERY_COLUMNS)
        .bind("tenantId", tenantId).bind("endpointId", endpointId).bind("id", id).bind("now", now)
        .bind("leaseUntil", leaseUntil).map((rs, ctx) -> delivery(rs)).findOne();
  }

  /** Records an attempt's outcome: {@code status}, and when PENDING the next attempt's time. */
  static void settle(Tx tx, String endpointId, String id, String status, int statusCode, String error,
      Instant nextAttempt, Instant deliveredTime) {
    tx.handle().createUpdate("""
            UPDATE webhook_deliveries SET status = :status, last_status_code = :code, last_error = :error,
                   next_attempt_time = coalesce(:next, next_attempt_time), delivered_time = :delivered, lease_until = NULL
             WHERE tenant_id = :tenantId AND endpoint_id = :endpointId AND id = :id
            """)
        .bind("tenantId", tx.tenantId()).bind("endpointId", endpointId).bind("id", id).bind("status", status)
        .bind("code", statusCode).bind("error", error).bind("next", nextAttempt).bind("delivered", deliveredTime)
        .execute();
  }

  static Optional<Delivery> delivery(Handle h, String tenantId, String endpointId, String id) {
    return h.createQuery("SELECT " + DELIVERY_COLUMNS
            + " FROM webhook_deliveries WHERE tenant_id = :tenantId AND endpoint_id = :endpointId AND id = :id")
        .bind("tenantId", tenantId).bind("endpointId", endpointId).bind("id", id).map((rs, ctx) -> delivery(rs))
        .findOne();
  }

  /** Makes a delivery PENDING again from its first attempt, due at {@code now}. */
  static Optional<Delivery> requeue(Tx tx, String endpointId, String id) {
    return tx.handle().createQuery("UPDATE webhook_deliveries SET status = 'PENDING', attempts = 0, lease_until = NULL,"
            + " next_attempt_time = :now, delivered_time = NULL, create_time = :now"
            + " WHERE tenant_id = :tenantId AND endpoint_id = :endpointId AND id = :id RETURNING " + DELIVERY_COLUMNS)
        .bind("tenantId", tx.tenantId()).bind("endpointId", endpointId).bind("id", id).bind("now", tx.now())
        .map((rs, ctx) -> delivery(rs)).findOne();
  }

  /** A page of an endpoint's deliveries, newest event first, before position {@code before} (null: from the newest). */
  static List<Delivery> deliveries(Handle h, String tenantId, String endpointId, String status, Long before, int limit) {
    return h.createQuery("SELECT " + DELIVERY_COLUMNS
            + " FROM webhook_deliveries WHERE tenant_id = :tenantId AND endpoint_id = :endpointId"
            + (status == null ? "" : " AND status = :status")
            + (before == null ? "" : " AND position < :before")
            + " ORDER BY position DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("endpointId", endpointId).bind("status", status)
        .bind("before", before).bind("limit", limit)
        .map((rs, ctx) -> delivery(rs)).list();
  }

  private static Row row(ResultSet rs) throws SQLException {
    return new Row(rs.getString(1), rs.getString(2), rs.getString(3),
        Arrays.asList((String[]) rs.getArray(4).getArray()), rs.getString(5), rs.getBytes(6), rs.getBytes(7),
        instant(rs, 8), rs.getBoolean(9), rs.getString(10), instant(rs, 11), rs.getLong(12), rs.getBytes(13),
        instant(rs, 14), instant(rs, 15));
  }

  private static Delivery delivery(ResultSet rs) throws SQLException {
    return new Delivery(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5),
        rs.getInt(6), instant(rs, 7), rs.getInt(8), rs.getString(9), instant(rs, 10), instant(rs, 11));
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
    return t == null ? null : t.toInstant();
  }
}
