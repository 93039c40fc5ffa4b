package dev.convene.server.call;

import dev.convene.server.platform.OutsideJobHandler;
import dev.convene.server.platform.Platform;
import dev.convene.server.provider.MediaProvider;
import dev.convene.server.provider.TenantProviders;
import dev.convene.server.session.Recordings;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionChanges;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.ProviderKind;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Making a session's provider room record, or stop, as the session says: the {@link Recordings#JOB}
 * outbox job, tried once right after a CallService change commits and otherwise run by the job
 * runner with backoff, never while a transaction is open. It applies the state the session holds
 * when it runs, not the one that scheduled it, so changes that overtake one another end with the
 * last: after the provider answered, the state is read again under the session's lock, and if it
 * moved meanwhile the job is scheduled again at once.
 */
final class RoomRecordings implements OutsideJobHandler {
  private static final Logger log = LoggerFactory.getLogger(RoomRecordings.class);
  private static final String ACTOR = "system:job:" + Recordings.JOB;

  private final Platform platform;
  private final TenantProviders providers;

  RoomRecordings(Platform platform, TenantProviders providers) {
    this.platform = platform;
    this.providers = providers;
  }

  @Override
  public String kind() {
    return Recordings.JOB;
  }

  /** Asks the provider now, after a commit; true when it is settled (the scheduled job is then dropped). */
  boolean tryNow(String tenantId, String sessionId) {
    try {
      return apply(tenantId, sessionId, true);
    } catch (RuntimeException e) {
      log.info("Setting the recording of the room of session {} failed; the job retries: {}", sessionId,
          e.getClass().getSimpleName());
      return false;
    }
  }

  @Override
  public void runOutside(String tenantId, String sessionId) {
    apply(tenantId, sessionId, false);
  }

  /**
   * Reads the session's recording and room, tells the provider with no transaction open, then, under
   * the session's lock, settles: the same state as applied drops the job ({@code dropJob}; the runner
   * drops its own), a changed one schedules it again, due now.
   */
  private boolean apply(String tenantId, String sessionId, boolean dropJob) {
    SessionRow before = platform.uow().write(tenantId, ACTOR, tx -> Rosters.lock(tx, sessionId));
    SessionRow.Room room = before.room();
    if (room.provider() == null || !SessionChanges.ROOM_ACTIVE.equals(room.state())) {
      // No room yet (it starts recording when it becomes active) or it is ending with the session.
      return true;
    }
    boolean on = before.recording().active();
    String name = room.name() == null ? sessionId : room.name();
    ProviderKind kind = ProviderKind.valueOf(room.provider());
    providers.call(tenantId, kind, on ? "starting the room's recording" : "stopping the room's recording", p -> {
      MediaProvider.RecordingControl control = p.setRecording(name, on);
      if (control == MediaProvider.RecordingControl.UNSUPPORTED) {
        log.info("{} does not record through Convene; session {} keeps its recording state only in Convene",
            kind, sessionId);
      }
    });
    return platform.uow().write(tenantId, ACTOR, tx -> {
      SessionRow now = Rosters.lock(tx, sessionId);
      if (!now.recording().equals(before.recording()) || !now.room().equals(room)) {
        tx.schedule(Recordings.JOB, sessionId, tx.now());
        return false;
      }
      if (dropJob) {
        tx.handle().createUpdate(
                "DELETE FROM jobs WHERE tenant_id = :tenantId AND kind = :kind AND subject_id = :subject")
            .bind("tenantId", tenantId).bind("kind", Recordings.JOB).bind("subject", sessionId).execute();
      }
      return true;
    });
  }
}
