package dev.convene.server.token;

import dev.convene.server.grpc.ConveneException;
import dev.convene.v1.ErrorReason;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.jdbi.v3.core.Jdbi;

/**
 * Cuts guessing off: more than {@link #LIMIT} failed redemptions within {@link #WINDOW} from one
 * client address, or against one session, and further attempts are refused with
 * RESOURCE_EXHAUSTED (TOO_MANY_ATTEMPTS) until the oldest failure leaves the window, whatever code
 * they carry. Counted in PostgreSQL, so every replica sees the same counts.
 */
final class Throttle {
  static final int LIMIT = 10;
  static final Duration WINDOW = Duration.ofMinutes(15);

  record Key(String scope, String key) {}

  private final Jdbi jdbi;
  private final Clock clock;

  Throttle(Jdbi jdbi, Clock clock) {
    this.jdbi = jdbi;
    this.clock = clock;
  }

  /** RESOURCE_EXHAUSTED with the wait when any of {@code keys} has used up its failures. */
  void check(List<Key> keys) {
    Instant now = clock.instant();
    for (Key k : keys) {
      List<Instant> recent = jdbi.withHandle(h -> h.createQuery("""
              SELECT fail_time FROM redemption_failures
               WHERE scope = :scope AND key = :key AND fail_time > :since
               ORDER BY fail_time DESC LIMIT :limit
              """)
          .bind("scope", k.scope()).bind("key", k.key()).bind("since", now.minus(WINDOW)).bind("limit", LIMIT)
          .mapTo(Instant.class).list());
      if (recent.size() >= LIMIT) {
        Duration wait = Duration.between(now, recent.get(LIMIT - 1).plus(WINDOW));
        throw ConveneException.resourceExhausted(ErrorReason.TOO_MANY_ATTEMPTS,
            "too many failed attempts; try again in " + Math.max(1, wait.toSeconds()) + " s",
            wait.isNegative() ? Duration.ofSeconds(1) : wait);
      }
    }
  }

  /** Records one failure against each of {@code keys}, and forgets failures the window has passed. */
  void failed(List<Key> keys) {
    Instant now = clock.instant();
    jdbi.useHandle(h -> {
      for (Key k : keys) {
        h.createUpdate("INSERT INTO redemption_failures (scope, key, fail_time) VALUES (:scope, :key, :now)")
            .bind("scope", k.scope()).bind("key", k.key()).bind("now", now).execute();
      }
      h.createUpdate("""
              DELETE FROM redemption_failures WHERE ctid IN (
                SELECT ctid FROM redemption_failures WHERE fail_time < :before LIMIT 100)
              """)
          .bind("before", now.minus(WINDOW)).execute();
    });
  }

  static List<Key> keys(String clientAddress, String sessionId) {
    return List.of(new Key("address", clientAddress), new Key("session", sessionId));
  }

}
