package dev.convene.server.session;

import static dev.convene.server.session.SessionStatusMachine.IN_PROGRESS;
import static dev.convene.server.session.SessionStatusMachine.SCHEDULED;
import static dev.convene.server.session.SessionStatusMachine.WAITING;

import dev.convene.server.event.EventLog;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ErrorReasons;
import dev.convene.v1.SessionEventType;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * The changes one transaction makes to one tenant's sessions. Every change starts from a row
 * locked with {@link #lock}, so concurrent joins, leaves and transitions on a session queue up
 * instead of losing one another, and every change appends its event in the same transaction.
 */
final class SessionTransaction {
  static final String HOST = "HOST";

  private final Handle handle;
  private final SessionDao dao;
  private final String tenantId;
  private final Clock clock;
  private Instant now;
  private final String actor;

  SessionTransaction(Handle handle, String tenantId, Clock clock, String actor) {
    this.handle = handle;
    this.dao = handle.attach(SessionDao.class);
    this.tenantId = tenantId;
    this.clock = clock;
    this.actor = actor;
  }

  SessionDao dao() {
    return dao;
  }

  /**
   * The time of this transaction's changes, read once, after its row lock was granted: a change that
   * waited for the lock is stamped after the change it waited for.
   */
  Instant now() {
    if (now == null) {
      // PostgreSQL keeps microseconds; what a response shows must equal what a later read shows.
      now = clock.instant().truncatedTo(ChronoUnit.MICROS);
    }
    return now;
  }

  /** The tenant's session, locked; NOT_FOUND for a missing session or another tenant's. */
  SessionRow lock(String sessionId) {
    SessionRow s = dao.lock(tenantId, sessionId).orElseThrow(() -> SessionService.sessionNotFound(sessionId));
    if (now != null) {
      throw new IllegalStateException("the time of a change must be read after its lock");
    }
    return s;
  }

  /** A row another statement locked in this transaction (the jobs' claims), under the same rule. */
  SessionRow locked(SessionRow s) {
    if (now != null) {
      throw new IllegalStateException("the time of a change must be read after its lock");
    }
    return s;
  }

  /** FAILED_PRECONDITION (SESSION_ENDED) when the session is terminal. */
  static void requireOpen(SessionRow s) {
    if (SessionStatusMachine.terminal(s.status())) {
      throw ConveneException.failedPrecondition(ErrorReasons.SESSION_ENDED,
          "session " + s.id() + " has ended (" + s.status() + ")", Map.of("status", s.status()));
    }
  }

  ParticipantRow participant(SessionRow s, String userId) {
    return dao.findParticipant(s.id(), userId).orElseThrow(() -> ConveneException.notFound(
        ErrorReasons.PARTICIPANT_NOT_FOUND, "user " + userId + " is not on the roster of session " + s.id()));
  }

  void event(SessionRow s, SessionEventType type, Map<String, ?> payload) {
    EventLog.append(handle, tenantId, s.id(), type, now(), actor, payload);
  }

  /**
   * Moves the session to {@code to}: FAILED_PRECONDITION (INVALID_SESSION_TRANSITION) if the
   * status machine forbids it. A terminal move closes everyone's presence and sets the end time
   * ({@code endTime}, or now()).
   */
  SessionRow moveTo(SessionRow s, String to, String reason, List<String> missingRoles, Instant endTime) {
    if (!SessionStatusMachine.allowed(s.status(), to)) {
      throw ConveneException.failedPrecondition(ErrorReasons.INVALID_SESSION_TRANSITION,
          "session " + s.id() + " cannot move from " + s.status() + " to " + to,
          Map.of("from", s.status(), "to", to));
    }
    boolean terminal = SessionStatusMachine.terminal(to);
    if (terminal) {
      for (ParticipantRow p : dao.presentParticipants(s.id())) {
        leave(s, p);
      }
    }
    SessionRow next = s.withLifecycle(to, reason, missingRoles.toArray(String[]::new), now(),
        to.equals(IN_PROGRESS) && s.startTime() == null ? now() : s.startTime(),
        terminal ? (endTime != null ? endTime : now()) : null,
        terminal ? null : emptySinceAfterMove(s, to));
    if (terminal) {
      next = next.withPresentCount(0);
    }
    dao.updateLifecycle(next);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("from", s.status());
    payload.put("to", to);
    if (!reason.isEmpty()) {
      payload.put("reason", reason);
    }
    if (!missingRoles.isEmpty()) {
      payload.put("missing_roles", missingRoles);
    }
    event(s, SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED, payload);
    return next;
  }

  /** A session started with nobody present is empty from now on, so its empty timeout applies. */
  private Instant emptySinceAfterMove(SessionRow s, String to) {
    if (to.equals(IN_PROGRESS) && s.presentCount() == 0 && s.emptySince() == null) {
      return now();
    }
    return s.emptySince();
  }

  SessionRow moveTo(SessionRow s, String to, String reason) {
    return moveTo(s, to, reason, List.of(), null);
  }

  /** Records a join and applies the moves presence drives. */
  JoinResult join(SessionRow s, ParticipantRow p) {
    requireOpen(s);
    if (p.present()) {
      return new JoinResult(s, p);
    }
    if (s.presentCount() >= s.maxParticipants()) {
      throw ConveneException.resourceExhausted(ErrorReasons.SESSION_FULL,
          "session " + s.id() + " already has its " + s.maxParticipants() + " participants present");
    }
    ParticipantRow joined = p.joined(now());
    dao.updatePresence(joined);
    event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED, Map.of("user_id", p.userId(), "role", p.role()));
    SessionRow next = s.withPresentCount(s.presentCount() + 1)
        .withLifecycle(s.status(), s.statusReason(), s.missingRoles(), now(), s.startTime(), s.endTime(), null);
    dao.updateLifecycle(next);
    if (next.status().equals(SCHEDULED)) {
      next = moveTo(next, WAITING, "");
    }
    if (next.status().equals(WAITING) && next.presentCount() >= 2
        && dao.presentParticipants(s.id()).stream().anyMatch(x -> x.role().equals(HOST))) {
      next = moveTo(next, IN_PROGRESS, "");
    }
    return new JoinResult(next, joined);
  }

  record JoinResult(SessionRow session, ParticipantRow participant) {}

  /** Records a leave; an IN_PROGRESS session left empty starts its empty timeout. */
  JoinResult leaveSession(SessionRow s, ParticipantRow p) {
    if (!p.present()) {
      throw ConveneException.failedPrecondition(ErrorReasons.PARTICIPANT_NOT_PRESENT,
          "user " + p.userId() + " is not in session " + s.id(), Map.of());
    }
    ParticipantRow left = leave(s, p);
    SessionRow next = s.withPresentCount(s.presentCount() - 1);
    boolean emptied = next.presentCount() == 0 && next.status().equals(IN_PROGRESS);
    next = next.withLifecycle(next.status(), next.statusReason(), next.missingRoles(), now(), next.startTime(),
        next.endTime(), emptied ? now() : next.emptySince());
    dao.updateLifecycle(next);
    return new JoinResult(next, left);
  }

  private ParticipantRow leave(SessionRow s, ParticipantRow p) {
    ParticipantRow left = p.left(now());
    dao.updatePresence(left);
    event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT,
        Map.of("user_id", p.userId(), "connected_seconds", (left.connectedMs() - p.connectedMs()) / 1000.0));
    return left;
  }
}
