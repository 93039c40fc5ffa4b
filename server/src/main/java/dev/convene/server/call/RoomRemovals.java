package dev.convene.server.call;

import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.provider.TenantProviders;
import dev.convene.server.session.ParticipantRow;
import dev.convene.server.session.SessionChanges;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.ProviderKind;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Making the provider's room drop a participant Convene removed: an outbox job written in the
 * removal's transaction (subject {@code <session id>/<user id>}), tried once right after the commit
 * and otherwise retried by the job runner with backoff, never while a transaction is open.
 */
final class RoomRemovals implements OutsideJobHandler {
  static final String JOB = "provider.remove_participant";
  /** When the job is due if the immediate attempt does not settle it first. */
  static final Duration FALLBACK_DELAY = Duration.ofSeconds(30);
  private static final Logger log = LoggerFactory.getLogger(RoomRemovals.class);

  /** What a committed removal leaves to do. */
  record Removal(String tenantId, String sessionId, ParticipantRow participant, SessionRow.Room room) {}

  private final Platform platform;
  private final TenantProviders providers;

  RoomRemovals(Platform platform, TenantProviders providers) {
    this.platform = platform;
    this.providers = providers;
  }

  @Override
  public String kind() {
    return JOB;
  }

  /** Schedules the removal in {@code tx} when the session has a provider room. */
  Removal schedule(Tx tx, SessionRow s, ParticipantRow p) {
    if (hasRoom(s.room())) {
      tx.schedule(JOB, s.id() + "/" + p.userId(), tx.now().plus(FALLBACK_DELAY));
    }
    return new Removal(tx.tenantId(), s.id(), p, s.room());
  }

  /** Asks the provider now; true when it confirmed (the scheduled job is then dropped). */
  boolean tryNow(Removal r) {
    if (!hasRoom(r.room())) {
      return false;
    }
    try {
      remove(r.tenantId(), r.sessionId(), r.participant().userId(), r.room());
    } catch (RuntimeException e) {
      log.info("Removing a participant from the {} room of session {} failed; the job retries: {}",
          r.room().provider(), r.sessionId(), e.getClass().getSimpleName());
      return false;
    }
    platform.jdbi().useHandle(h -> h.createUpdate(
            "DELETE FROM jobs WHERE tenant_id = :tenantId AND kind = :kind AND subject_id = :subject")
        .bind("tenantId", r.tenantId()).bind("kind", JOB).bind("subject", r.sessionId() + "/" + r.participant().userId())
        .execute());
    return true;
  }

  @Override
  public void runOutside(String tenantId, String subject) {
    int slash = subject.indexOf('/');
    String sessionId = subject.substring(0, slash);
    String userId = subject.substring(slash + 1);
    Optional<SessionRow.Room> room = platform.uow().write(tenantId, "system:job:" + JOB, tx ->
        Optional.of(dev.convene.server.session.Rosters.lock(tx, sessionId).room()));
    if (room.isPresent() && hasRoom(room.get())) {
      remove(tenantId, sessionId, userId, room.get());
    }
  }

  private void remove(String tenantId, String sessionId, String userId, SessionRow.Room room) {
    String name = room.name() == null ? sessionId : room.name();
    providers.call(tenantId, ProviderKind.valueOf(room.provider()), "dropping the participant from the room",
        p -> p.removeParticipant(name, userId));
  }

  private static boolean hasRoom(SessionRow.Room room) {
    return room.provider() != null && (SessionChanges.ROOM_ACTIVE.equals(room.state())
        || SessionChanges.ROOM_CREATING.equals(room.state()));
  }
}
