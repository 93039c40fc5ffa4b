package dev.convene.server.user;

import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.v1.User;
import java.nio.charset.StandardCharsets;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.Query;

/** The users table: profiles, the sealed phone number behind each masked one. */
final class Users {
  /** A stored profile (the sealed phone stays in the table). */
  record Row(String userId, String displayName, String firstName, String lastName, String avatarUrl,
      String phoneMasked, String email, Instant createTime, Instant updateTime) {}

  private static final String COLUMNS =
      "user_id, display_name, first_name, last_name, avatar_url, phone_masked, email, create_time, update_time";

  private final Platform platform;

  Users(Platform platform) {
    this.platform = platform;
  }

  /**
   * Serialises changes to one user's profile, also the first one (when there is no row to lock
   * yet): a transaction-scoped advisory lock. Take it before the transaction reads its time.
   */
  static void lock(Tx tx, String userId) {
    tx.lockKey("user/" + userId);
  }

  Optional<Row> get(Handle h, String tenantId, String userId) {
    return h.createQuery("SELECT " + COLUMNS + " FROM users WHERE tenant_id = :tenantId AND user_id = :userId")
        .bind("tenantId", tenantId).bind("userId", userId).map((rs, ctx) -> row(rs)).findOne();
  }

  /** The stored phone number of the locked profile, opened; null when it has none. */
  String phone(Tx tx, String userId) {
    byte[] sealed = tx.handle().createQuery(
            "SELECT phone_sealed FROM users WHERE tenant_id = :tenantId AND user_id = :userId")
        .bind("tenantId", tx.tenantId()).bind("userId", userId).mapTo(byte[].class).findOne().orElse(null);
    return sealed == null ? null
        : new String(platform.secrets().open(sealed, context(tx.tenantId(), userId)), StandardCharsets.UTF_8);
  }

  /** Writes the locked profile {@code u} with {@code phone} (E.164, or null), keeping its create time. */
  Row upsert(Tx tx, User u, String phone) {
    return tx.handle().createQuery("""
            INSERT INTO users (tenant_id, user_id, display_name, first_name, last_name, avatar_url, phone_sealed,
                               phone_masked, email, create_time, update_time)
            VALUES (:tenantId, :userId, :displayName, :firstName, :lastName, :avatarUrl, :phoneSealed, :phoneMasked,
                    :email, :now, :now)
            ON CONFLICT (tenant_id, user_id) DO UPDATE SET display_name = excluded.display_name,
                first_name = excluded.first_name, last_name = excluded.last_name, avatar_url = excluded.avatar_url,
                phone_sealed = excluded.phone_sealed, phone_masked = excluded.phone_masked, email = excluded.email,
                update_time = excluded.update_time
            """ + " RETURNING " + COLUMNS)
        .bind("tenantId", tx.tenantId()).bind("userId", u.getUserId()).bind("displayName", u.getDisplayName())
        .bind("firstName", u.getFirstName()).bind("lastName", u.getLastName()).bind("avatarUrl", u.getAvatarUrl())
        .bind("phoneSealed", phone == null ? null
            : platform.secrets().seal(phone.getBytes(StandardCharsets.UTF_8), context(tx.tenantId(), u.getUserId())))
        .bind("phoneMasked", phone == null ? null : dev.convene.server.platform.Phones.mask(phone))
        .bind("email", u.getEmail()).bind("now", tx.now()).map((rs, ctx) -> row(rs)).one();
  }

  /** Deletes the locked profile; false when there was none. */
  boolean delete(Tx tx, String userId) {
    return tx.handle().createUpdate("DELETE FROM users WHERE tenant_id = :tenantId AND user_id = :userId")
        .bind("tenantId", tx.tenantId()).bind("userId", userId).execute() == 1;
  }

  /**
   * Replaces the actor of the user's (and its guest credentials') past events with
   * {@code user:deleted}: the activities stay, the person behind them does not.
   */
  static int anonymise(Tx tx, String userId) {
    return tx.handle().createUpdate("""
            UPDATE events SET actor = 'user:deleted'
            WHERE tenant_id = :tenantId AND actor IN ('user:' || :userId, 'guest:' || :userId)
            """).bind("tenantId", tx.tenantId()).bind("userId", userId).execute();
  }

  /**
   * A page of the tenant's profiles by user id after {@code afterId}; with {@code prefix}, those
   * whose display, first or last name starts with it (case-insensitive).
   */
  List<Row> list(Handle h, String tenantId, String prefix, String afterId, int limit) {
    List<String> where = new ArrayList<>(List.of("tenant_id = :tenantId"));
    if (prefix != null) {
      where.add("(lower(display_name) LIKE :pattern OR lower(first_name) LIKE :pattern OR lower(last_name) LIKE :pattern)");
    }
    if (afterId != null) {
      where.add("user_id > :afterId");
    }
    Query q = h.createQuery("SELECT " + COLUMNS + " FROM users WHERE " + String.join(" AND ", where)
            + " ORDER BY user_id LIMIT :limit")
        .bind("tenantId", tenantId).bind("afterId", afterId).bind("limit", limit);
    if (prefix != null) {
      q.bind("pattern", prefix.toLowerCase(Locale.ROOT).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
          + "%");
    }
    return q.map((rs, ctx) -> row(rs)).list();
  }

  static User toProto(Row r) {
    User.Builder b = User.newBuilder().setUserId(r.userId()).setDisplayName(r.displayName())
        .setFirstName(r.firstName()).setLastName(r.lastName()).setAvatarUrl(r.avatarUrl()).setEmail(r.email())
        .setCreateTime(ProtoTime.timestamp(r.createTime())).setUpdateTime(ProtoTime.timestamp(r.updateTime()));
    if (r.phoneMasked() != null) {
      b.setPhone(r.phoneMasked());
    }
    return b.build();
  }

  private static String context(String tenantId, String userId) {
    return tenantId + "/user/" + userId + "/phone";
  }

  private static Row row(ResultSet rs) throws SQLException {
    return new Row(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
        rs.getString(6), rs.getString(7), rs.getObject(8, OffsetDateTime.class).toInstant(),
        rs.getObject(9, OffsetDateTime.class).toInstant());
  }
}
