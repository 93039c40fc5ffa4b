package dev.convene.server.session;

import static dev.convene.server.session.SessionStatusMachine.COMPLETED;
import static dev.convene.server.session.SessionStatusMachine.IN_PROGRESS;
import static dev.convene.server.session.SessionStatusMachine.NO_SHOW;
import static dev.convene.server.session.SessionStatusMachine.SCHEDULED;
import static dev.convene.server.session.SessionStatusMachine.WAITING;

import dev.convene.server.platform.JobHandler;
import dev.convene.server.platform.Tx;
import java.util.List;

/**
 * The automatic endings of DESIGN.md's status machine, as jobs: NO_SHOW once the grace after the
 * scheduled start has passed (scheduled when the session is created), COMPLETED once an in-progress
 * session has been empty for its timeout (scheduled when it empties). Each re-checks under the
 * session's lock, since people may have joined since.
 */
final class SessionJobs {
  private SessionJobs() {}

  static List<JobHandler> handlers() {
    return List.of(new NoShow(), new EmptyTimeout());
  }

  static final class NoShow implements JobHandler {
    @Override
    public String kind() {
      return SessionChanges.NO_SHOW_JOB;
    }

    @Override
    public void run(Tx tx, String sessionId) {
      SessionChanges changes = new SessionChanges(tx);
      SessionRow s = changes.lock(sessionId);
      if ((s.status().equals(SCHEDULED) || s.status().equals(WAITING)) && !tx.now().isBefore(s.noShowDeadline())) {
        List<String> missing = SessionStore.rolesNeverJoined(tx.handle(), tx.tenantId(), s.id());
        changes.moveTo(s, NO_SHOW, "no-show grace passed", missing, null);
      }
    }
  }

  static final class EmptyTimeout implements JobHandler {
    @Override
    public String kind() {
      return SessionChanges.EMPTY_TIMEOUT_JOB;
    }

    @Override
    public void run(Tx tx, String sessionId) {
      SessionChanges changes = new SessionChanges(tx);
      SessionRow s = changes.lock(sessionId);
      if (s.status().equals(IN_PROGRESS) && s.emptySince() != null
          && !tx.now().isBefore(s.emptySince().plusMillis(s.emptyTimeoutMs()))) {
        // The call ended when the last participant left, not when this job noticed.
        changes.moveTo(s, COMPLETED, "empty timeout passed", List.of(), s.emptySince());
      }
    }
  }
}
