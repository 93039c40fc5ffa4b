package dev.convene.server.token;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.AccessCode;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionEventType;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.jdbi.v3.core.Handle;

/**
 * Access codes: 8 characters a person can read out and type ({@code XXXX-XXXX}, from 32 letters and
 * digits without 0/O and 1/I: 40 bits), stored only as an HMAC-SHA-256 under a server key sealed by
 * the master key and bound to the session. Redemptions are throttled ({@link Throttle}), so the
 * small space cannot be searched online either.
 */
final class AccessCodes {
  static final String ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
  static final int LENGTH = 8;
  /** A code may outlive its session's scheduled end by at most this. */
  static final Duration MAX_AFTER_END = Duration.ofDays(30);
  static final int LIST_LIMIT = 100;

  /** A stored code, of a session or (for a group invitation) of a group. */
  record Row(String tenantId, String id, String sessionId, String userId, int maxUses, int useCount,
      Instant expireTime, Instant createTime, Instant revokeTime, String groupId) {
    /** The session or group it admits to. */
    String scopeId() {
      return sessionId != null ? sessionId : groupId;
    }
  }

  private static final String COLUMNS =
      "tenant_id, id, session_id, user_id, max_uses, use_count, expire_time, create_time, revoke_time, group_id";

  private final Platform platform;
  private final SecretKeySpec key;
  private final SecureRandom random = new SecureRandom();

  AccessCodes(Platform platform, byte[] hashKey) {
    this.platform = platform;
    this.key = new SecretKeySpec(hashKey, "HmacSHA256");
  }

  /** A new code for {@code userId} of the locked, open session {@code s}; returns the row and the code. */
  Map.Entry<Row, String> create(Tx tx, SessionRow s, String userId, int maxUses, Instant expire) {
    Map.Entry<Row, String> made = insert(tx, s.id(), null, userId, maxUses, expire);
    Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_ACCESS_CODE_CREATED,
        Map.of("access_code_id", made.getKey().id(), "user_id", userId, "max_uses", made.getKey().maxUses()));
    return made;
  }

  /** A new code for {@code userId} of the locked group {@code groupId} (a group invitation's). */
  Map.Entry<Row, String> createForGroup(Tx tx, String groupId, String userId, int maxUses, Instant expire) {
    return insert(tx, null, groupId, userId, maxUses, expire);
  }

  private Map.Entry<Row, String> insert(Tx tx, String sessionId, String groupId, String userId, int maxUses,
      Instant expire) {
    String code = newCode();
    Row row = new Row(tx.tenantId(), platform.ids().next(IdKind.ACCESS_CODE), sessionId, userId,
        maxUses == 0 ? 1 : maxUses, 0, expire, tx.now(), null, groupId);
    tx.handle().createUpdate("""
            INSERT INTO access_codes (tenant_id, id, session_id, group_id, user_id, code_hash, max_uses, expire_time,
                                      create_time)
            VALUES (:tenantId, :id, :sessionId, :groupId, :userId, :hash, :maxUses, :expire, :now)
            """)
        .bind("tenantId", row.tenantId()).bind("id", row.id()).bind("sessionId", sessionId).bind("groupId", groupId)
        .bind("userId", userId).bind("hash", hash(row.scopeId(), code)).bind("maxUses", row.maxUses())
        .bind("expire", expire).bind("now", row.createTime()).execute();
    return Map.entry(row, code);
  }

  /** The code of the session or group {@code scopeId} that {@code typed} matches, in any tenant. */
  Optional<Row> find(Handle h, String scopeId, String typed) {
    return h.createQuery("SELECT " + COLUMNS
            + " FROM access_codes WHERE code_hash = :hash AND coalesce(session_id, group_id) = :scopeId")
        .bind("hash", hash(scopeId, typed)).bind("scopeId", scopeId).map((rs, ctx) -> row(rs)).findOne();
  }

  /**
   * Takes one use of the code if it has one left; FAILED_PRECONDITION with ACCESS_CODE_REVOKED,
   * ACCESS_CODE_EXPIRED or ACCESS_CODE_USED_UP otherwise.
   */
  Row claimUse(Handle h, Row r, Instant now) {
    Row current = h.createQuery("SELECT " + COLUMNS + " FROM access_codes WHERE tenant_id = :tenantId AND id = :id FOR UPDATE")
        .bind("tenantId", r.tenantId()).bind("id", r.id()).map((rs, ctx) -> row(rs)).one();
    if (current.revokeTime() != null) {
      throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_REVOKED, "the access code was revoked", Map.of());
    }
    if (!now.isBefore(current.expireTime())) {
      throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_EXPIRED, "the access code has expired", Map.of());
    }
    if (current.useCount() >= current.maxUses()) {
      throw ConveneException.failedPrecondition(ErrorReason.ACCESS_CODE_USED_UP,
          "the access code has been used as often as it allows", Map.of());
    }
    h.createUpdate("UPDATE access_codes SET use_count = use_count + 1 WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", r.tenantId()).bind("id", r.id()).execute();
    return current;
  }

  /** The tenant's code {@code id}. */
  Row get(Handle h, String tenantId, String id) {
    return h.createQuery("SELECT " + COLUMNS + " FROM access_codes WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", tenantId).bind("id", id).map((rs, ctx) -> row(rs)).one();
  }

  /** The tenant's codes {@code ids} (those that exist). */
  List<Row> getAll(Handle h, String tenantId, List<String> ids) {
    return h.createQuery("SELECT " + COLUMNS + " FROM access_codes WHERE tenant_id = :tenantId AND id = ANY(CAST(:ids AS text[]))")
        .bind("tenantId", tenantId).bind("ids", ids.toArray(String[]::new)).map((rs, ctx) -> row(rs)).list();
  }

  /** Gives back a use taken by {@link #claimUse} when no join token came of it. */
  void returnUse(Handle h, Row r) {
    h.createUpdate("UPDATE access_codes SET use_count = greatest(use_count - 1, 0) WHERE tenant_id = :tenantId AND id = :id")
        .bind("tenantId", r.tenantId()).bind("id", r.id()).execute();
  }

  /** Revokes the code (idempotent); NOT_FOUND when the session has no such code. */
  Row revoke(Tx tx, SessionRow s, String id) {
    Row r = lock(tx, s.id(), id);
    if (r.revokeTime() != null) {
      return r;
    }
    Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_ACCESS_CODE_REVOKED, Map.of("access_code_id", id));
    return markRevoked(tx, r);
  }

  /** Revokes a code of the locked group {@code groupId} (idempotent). */
  Row revokeForGroup(Tx tx, String groupId, String id) {
    Row r = lock(tx, groupId, id);
    return r.revokeTime() != null ? r : markRevoked(tx, r);
  }

  /** The code {@code id} of the session or group {@code scopeId}, locked; NOT_FOUND when it has none. */
  private Row lock(Tx tx, String scopeId, String id) {
    return tx.handle().createQuery("SELECT " + COLUMNS + " FROM access_codes"
            + " WHERE tenant_id = :tenantId AND coalesce(session_id, group_id) = :scopeId AND id = :id FOR UPDATE")
        .bind("tenantId", tx.tenantId()).bind("scopeId", scopeId).bind("id", id).map((rs, ctx) -> row(rs)).findOne()
        .orElseThrow(() -> ConveneException.notFound(ErrorReason.ACCESS_CODE_NOT_FOUND,
            scopeId + " has no access code " + id));
  }

  private Row markRevoked(Tx tx, Row r) {
    tx.handle().createUpdate("UPDATE access_codes SET revoke_time = :now WHERE tenant_id = :tenantId AND id = :id")
        .bind("now", tx.now()).bind("tenantId", tx.tenantId()).bind("id", r.id()).execute();
    return new Row(r.tenantId(), r.id(), r.sessionId(), r.userId(), r.maxUses(), r.useCount(), r.expireTime(),
        r.createTime(), tx.now(), r.groupId());
  }

  List<Row> list(String tenantId, String sessionId) {
    return platform.jdbi().withHandle(h -> h.createQuery("SELECT " + COLUMNS
            + " FROM access_codes WHERE tenant_id = :tenantId AND session_id = :sessionId"
            + " ORDER BY create_time DESC, id DESC LIMIT :limit")
        .bind("tenantId", tenantId).bind("sessionId", sessionId).bind("limit", LIST_LIMIT)
        .map((rs, ctx) -> row(rs)).list());
  }

  static AccessCode toProto(Row r) {
    AccessCode.Builder b = AccessCode.newBuilder().setId(r.id()).setUserId(r.userId())
        .setMaxUses(r.maxUses()).setUseCount(r.useCount()).setExpireTime(ProtoTime.timestamp(r.expireTime()))
        .setCreateTime(ProtoTime.timestamp(r.createTime()));
    if (r.revokeTime() != null) {
      b.setRevokeTime(ProtoTime.timestamp(r.revokeTime()));
    }
    if (r.sessionId() != null) {
      b.setSessionId(r.sessionId());
    } else {
      b.setGroupId(r.groupId());
    }
    return b.build();
  }

  private String newCode() {
    StringBuilder sb = new StringBuilder(LENGTH + 1);
    for (int i = 0; i < LENGTH; i++) {
      if (i == LENGTH / 2) {
        sb.append('-');
      }
      sb.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
    }
    return sb.toString();
  }

  /** HMAC of the session (or group) and the code as typed, without spaces and dashes, case folded. */
  byte[] hash(String scopeId, String typed) {
    String normal = typed.replace("-", "").replace(" ", "").toUpperCase(Locale.ROOT);
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac.doFinal((scopeId + "\u001f" + normal).getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Row row(ResultSet rs) throws SQLException {
    OffsetDateTime revoked = rs.getObject(9, OffsetDateTime.class);
    return new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getInt(5), rs.getInt(6),
        rs.getObject(7, OffsetDateTime.class).toInstant(), rs.getObject(8, OffsetDateTime.class).toInstant(),
        revoked == null ? null : revoked.toInstant(), rs.getString(10));
  }
}
