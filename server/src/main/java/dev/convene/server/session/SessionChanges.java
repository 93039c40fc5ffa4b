package dev.convene.server.session;

import static dev.convene.server.session.SessionStatusMachine.IN_PROGRESS;
import static dev.convene.server.session.SessionStatusMachine.SCHEDULED;
import static dev.convene.server.session.SessionStatusMachine.WAITING;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionEventType;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * The changes one {@link Tx} makes to one tenant's sessions. Every change starts from a row locked
 * with {@link #lock}, and everything a decision needs (presence, roster) is read after that lock,
 * by later statements: a subquery of the locking statement would read the snapshot taken before
 * the lock wait, and two simultaneous joins would each count one.
 */
public final class SessionChanges {
  static final String AGGREGATE = "session";
  static final String HOST = "HOST";
  static final String NO_SHOW_JOB = "session.no_show";
  static final String EMPTY_TIMEOUT_JOB = "session.empty_timeout";
  /** Ends a terminal session's provider room (handled by the token feature, which drives providers). */
  public static final String END_ROOM_JOB = "provider.end_room";
  /** Compares a live provider room's participants with presence (handled by the presence feature). */
  public static final String RECONCILE_JOB = "provider.reconcile";
  public static final String ROOM_CREATING = "CREATING";
  public static final String ROOM_ACTIVE = "ACTIVE";
  public static final String ROOM_ENDING = "ENDING";
  public static final String ROOM_ENDED = "ENDED";

  private final Tx tx;
  private final Handle h;
  private final String tenantId;

  SessionChanges(Tx tx) {
    this.tx = tx;
    this.h = tx.handle();
    this.tenantId = tx.tenantId();
  }

  Tx tx() {
    return tx;
  }

  /** The tenant's session, locked; NOT_FOUND for a missing session or another tenant's. */
  SessionRow lock(String sessionId) {
    return tx.locked(SessionStore.lock(h, tenantId, sessionId)
        .orElseThrow(() -> SessionService.sessionNotFound(sessionId)));
  }

  /** FAILED_PRECONDITION (SESSION_ENDED) when the session is terminal. */
  static void requireOpen(SessionRow s) {
    if (SessionStatusMachine.terminal(s.status())) {
      throw ConveneException.failedPrecondition(ErrorReason.SESSION_ENDED,
          "session " + s.id() + " has ended (" + s.status() + ")", Map.of("status", s.status()));
    }
  }

  ParticipantRow participant(SessionRow s, String userId) {
    return SessionStore.findParticipant(h, tenantId, s.id(), userId).orElseThrow(() -> ConveneException.notFound(
        ErrorReason.PARTICIPANT_NOT_FOUND, "user " + userId + " is not on the roster of session " + s.id()));
  }

  void event(SessionRow s, SessionEventType type, Map<String, ?> payload) {
    tx.append(AGGREGATE, s.id(), SessionMapper.name(type), payload);
  }

  /** The PARTICIPANT_ADDED event of a user put on the roster ({@code role} is the short name, "HOST"). */
  void participantAdded(SessionRow s, String userId, String role) {
    event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED, Map.of("user_id", userId, "role", role));
  }

  /**
   * Moves the session to {@code to}: FAILED_PRECONDITION (INVALID_SESSION_TRANSITION) if the
   * status machine forbids it. A terminal move closes everyone's presence and sets the end time
   * ({@code endTime}, or now).
   */
  SessionRow moveTo(SessionRow s, String to, String reason, List<String> missingRoles, Instant endTime) {
    if (!SessionStatusMachine.allowed(s.status(), to)) {
      throw ConveneException.failedPrecondition(ErrorReason.INVALID_SESSION_TRANSITION,
          "session " + s.id() + " cannot move from " + s.status() + " to " + to,
          Map.of("from", s.status(), "to", to));
    }
    Instant now = tx.now();
    boolean terminal = SessionStatusMachine.terminal(to);
    if (terminal) {
      s = Recordings.beforeEnd(tx, s);
      for (ParticipantRow p : SessionStore.presentParticipants(h, tenantId, s.id())) {
        leave(s, p, Map.of());
      }
    }
    Instant emptySince = terminal ? null : emptySinceAfterMove(s, to);
    SessionRow next = s.withLifecycle(to, reason, missingRoles.toArray(String[]::new), now,
        to.equals(IN_PROGRESS) && s.startTime() == null ? now : s.startTime(),
        terminal ? (endTime != null ? endTime : now) : null, emptySince);
    if (terminal) {
      next = next.withPresentCount(0);
    }
    SessionStore.updateLifecycle(h, next);
    if (terminal && s.room().state() != null && !s.room().state().equals(ROOM_ENDED)) {
      // The provider's room ends too: recorded here, done by a job outside this transaction.
      h.createUpdate("UPDATE sessions SET room_state = :ending WHERE tenant_id = :tenantId AND id = :id")
          .bind("ending", ROOM_ENDING).bind("tenantId", tenantId).bind("id", s.id()).execute();
      tx.schedule(END_ROOM_JOB, s.id(), now);
    }
    if (emptySince != null && s.emptySince() == null) {
      scheduleEmptyTimeout(next);
    }
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

  SessionRow moveTo(SessionRow s, String to, String reason) {
    return moveTo(s, to, reason, List.of(), null);
  }

  /** A session started with nobody present is empty from now on, so its empty timeout applies. */
  private Instant emptySinceAfterMove(SessionRow s, String to) {
    if (to.equals(IN_PROGRESS) && s.presentCount() == 0 && s.emptySince() == null) {
      return tx.now();
    }
    return s.emptySince();
  }

  private void scheduleEmptyTimeout(SessionRow s) {
    tx.schedule(EMPTY_TIMEOUT_JOB, s.id(), s.emptySince().plusMillis(s.emptyTimeoutMs()));
  }

  /** Records a join and applies the moves presence drives. */
  JoinResult join(SessionRow s, ParticipantRow p) {
    return join(s, p, Map.of());
  }

  /**
   * Records a join that {@code source} reported (added to the PARTICIPANT_JOINED event, e.g. the
   * provider's webhook or a reconciliation) and applies the moves presence drives.
   */
  JoinResult join(SessionRow s, ParticipantRow p, Map<String, ?> source) {
    requireOpen(s);
    if (p.present()) {
      return new JoinResult(s, p);
    }
    if (s.presentCount() >= s.maxParticipants()) {
      throw ConveneException.resourceExhausted(ErrorReason.SESSION_FULL,
          "session " + s.id() + " already has its " + s.maxParticipants() + " participants present");
    }
    Instant now = tx.now();
    ParticipantRow joined = p.joined(now);
    SessionStore.updatePresence(h, tenantId, joined);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("user_id", p.userId());
    payload.put("role", p.role());
    payload.putAll(source);
    event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED, payload);
    // Every way presence is recorded (JoinSession, provider webhooks) comes through here.
    s = Recordings.afterJoin(tx, s, joined);
    SessionRow next = s.withPresentCount(s.presentCount() + 1)
        .withLifecycle(s.status(), s.statusReason(), s.missingRoles(), now, s.startTime(), s.endTime(), null);
    if (next.status().equals(SCHEDULED)) {
      next = moveTo(next, WAITING, "");
    }
    if (next.status().equals(WAITING) && next.presentCount() >= 2
        && (p.role().equals(HOST) || SessionStore.presentParticipants(h, tenantId, s.id()).stream()
            .anyMatch(x -> x.role().equals(HOST)))) {
      next = moveTo(next, IN_PROGRESS, "");
    } else if (next.status().equals(s.status())) {
      SessionStore.updateLifecycle(h, next);
    }
    return new JoinResult(next, joined);
  }

  record JoinResult(SessionRow session, ParticipantRow participant) {}

  /** Records a leave; an IN_PROGRESS session left empty starts its empty timeout. */
  JoinResult leaveSession(SessionRow s, ParticipantRow p) {
    return leaveSession(s, p, Map.of());
  }

  /** Records a leave that {@code source} reported (added to the PARTICIPANT_LEFT event). */
  JoinResult leaveSession(SessionRow s, ParticipantRow p, Map<String, ?> source) {
    if (!p.present()) {
      throw ConveneException.failedPrecondition(ErrorReason.PARTICIPANT_NOT_PRESENT,
          "user " + p.userId() + " is not in session " + s.id(), Map.of());
    }
    ParticipantRow left = leave(s, p, source);
    Instant now = tx.now();
    SessionRow next = s.withPresentCount(s.presentCount() - 1);
    boolean emptied = next.presentCount() == 0 && next.status().equals(IN_PROGRESS);
    next = next.withLifecycle(next.status(), next.statusReason(), next.missingRoles(), now, next.startTime(),
        next.endTime(), emptied ? now : next.emptySince());
    SessionStore.updateLifecycle(h, next);
    if (emptied) {
      scheduleEmptyTimeout(next);
    }
    return new JoinResult(next, left);
  }

  private ParticipantRow leave(SessionRow s, ParticipantRow p, Map<String, ?> source) {
    ParticipantRow left = p.left(tx.now());
    SessionStore.updatePresence(h, tenantId, left);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("user_id", p.userId());
    payload.put("connected_seconds", (left.connectedMs() - p.connectedMs()) / 1000.0);
    payload.putAll(source);
    event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT, payload);
    return left;
  }
}
