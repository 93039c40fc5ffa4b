package dev.convene.server.presence;

import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.TenantProviders;
import dev.convene.server.session.ProviderPresence;
import dev.convene.server.session.SessionChanges;
import dev.convene.v1.ProviderKind;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Reconciliation: webhooks are best effort (LiveKit keeps five attempts in memory and drops an event
 * after 30 s), so every {@code interval} a session with a live provider room compares the provider's
 * participant list with Convene's presence and repairs what differs, with corrective
 * PARTICIPANT_JOINED/LEFT events (source {@code reconciliation}). Scheduled to run at once when the
 * room becomes active; it re-schedules itself every {@code interval} while the room lives, so a
 * missed callback is repaired within one interval (plus the job runner's own interval). Jitsi rooms,
 * which cannot list participants, never get the job (Rosters.setRoom).
 */
final class ReconcileJob implements OutsideJobHandler {
  /** The most a join or leave is given to reach the provider before reconciliation judges it. */
  static final Duration MAX_SETTLE = Duration.ofSeconds(10);

  private final Platform platform;
  private final TenantProviders providers;
  private final Duration interval;

  ReconcileJob(Platform platform, TenantProviders providers, Duration interval) {
    this.platform = platform;
    this.providers = providers;
    this.interval = interval;
  }

  @Override
  public String kind() {
    return SessionChanges.RECONCILE_JOB;
  }

  @Override
  public void runOutside(String tenantId, String sessionId) {
    String actor = "system:job:" + kind();
    Optional<ProviderPresence.Room> room =
        platform.uow().write(tenantId, actor, tx -> ProviderPresence.roomToReconcile(tx, sessionId));
    if (room.isEmpty()) {
      return;
    }
    ProviderKind kind = ProviderKind.valueOf(room.get().provider());
    Instant listedAt = platform.clock().instant();
    Set<String> connected = new HashSet<>();
    boolean listed = providers.call(tenantId, kind, "listing the room's participants",
        p -> connected.addAll(p.connectedIdentities(room.get().name())));
    platform.uow().write(tenantId, actor, tx -> {
      List<String> changed = listed ? ProviderPresence.reconcile(tx, sessionId, room.get(), connected, listedAt,
          interval.compareTo(MAX_SETTLE) < 0 ? interval : MAX_SETTLE)
          : List.of();
      if (ProviderPresence.roomToReconcile(tx, sessionId).isPresent()) {
        tx.schedule(kind(), sessionId, tx.now().plus(interval));
      }
      return changed;
    });
  }
}
