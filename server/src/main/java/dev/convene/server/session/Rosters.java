package dev.convene.server.session;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.SessionEventType;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/**
 * What other features may ask of sessions: a roster entry read under its session's lock, the
 * provider room recorded on the session, events on the session's log, and whether an end user or
 * guest may see a session. The session feature keeps its tables and its status machine to itself.
 */
public final class Rosters {
  private Rosters() {}

  /** A session and one of its roster entries, read after the session's row lock. */
  public record Entry(SessionRow session, ParticipantRow participant) {}

  /**
   * Locks the session and reads {@code userId}'s roster entry: NOT_FOUND (SESSION_NOT_FOUND,
   * PARTICIPANT_NOT_FOUND) or FAILED_PRECONDITION (SESSION_ENDED) when there is nothing to join.
   */
  public static Entry lockOpen(Tx tx, String sessionId, String userId) {
    SessionChanges changes = new SessionChanges(tx);
    SessionRow s = changes.lock(sessionId);
    SessionChanges.requireOpen(s);
    return new Entry(s, changes.participant(s, userId));
  }

  /** FAILED_PRECONDITION (SESSION_ENDED) when the session is terminal. */
  public static void requireOpen(SessionRow s) {
    SessionChanges.requireOpen(s);
  }

  /** Locks the session, whatever its status. */
  public static SessionRow lock(Tx tx, String sessionId) {
    return new SessionChanges(tx).lock(sessionId);
  }

  /**
   * Records the session's provider and room as they are now; a room that becomes active (on a
   * provider that can list its participants) is from then on reconciled with the provider (SessionChanges.RECONCILE_JOB, first at once, then every
   * reconcile interval).
   */
  public static void setRoom(Tx tx, SessionRow s, SessionRow.Room room) {
    // Jitsi cannot list a room's participants: nothing to reconcile with.
    if (SessionChanges.ROOM_ACTIVE.equals(room.state()) && !SessionChanges.ROOM_ACTIVE.equals(s.room().state())
        && !"PROVIDER_KIND_JITSI".equals(room.provider())) {
      tx.schedule(SessionChanges.RECONCILE_JOB, s.id(), tx.now());
    }
    tx.handle().createUpdate("""
            UPDATE sessions SET provider = :provider, provider_room = :name, provider_room_sid = :sid, room_state = :state
            WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("provider", room.provider()).bind("name", room.name()).bind("sid", room.sid()).bind("state", room.state())
        .bind("tenantId", tx.tenantId()).bind("id", s.id()).execute();
  }

  /**
   * Puts {@code spec} on the roster of the locked, open session {@code s}, as AddParticipant does
   * (ROSTER_FULL, PARTICIPANT_ALREADY_EXISTS; a PARTICIPANT_ADDED event).
   */
  public static ParticipantRow add(Tx tx, SessionRow s, dev.convene.v1.ParticipantSpec spec) {
    return SessionService.addOne(new SessionChanges(tx), s, spec);
  }

  /** The roster entry of {@code userId}, if it is on the roster of {@code s}. */
  public static java.util.Optional<ParticipantRow> find(Tx tx, SessionRow s, String userId) {
    return SessionStore.findParticipant(tx.handle(), tx.tenantId(), s.id(), userId);
  }

  /**
   * Creates, in {@code tx}, the session {@code req} describes with its roster, as CreateSession does
   * (without a request id; a taken external_ref fails the insert).
   */
  public static SessionRow create(Tx tx, dev.convene.server.platform.IdGenerator ids,
      dev.convene.v1.CreateSessionRequest req) {
    return SessionService.create(new SessionChanges(tx), ids, req, null).orElseThrow();
  }

  /**
   * Ends the locked session {@code s}: COMPLETED once IN_PROGRESS, CANCELLED with {@code reason}
   * before it started; a terminal session is returned as it is. Presence closes and the provider
   * room ends, as EndSession and CancelSession do.
   */
  public static SessionRow end(Tx tx, SessionRow s, String reason) {
    if (SessionStatusMachine.terminal(s.status())) {
      return s;
    }
    SessionChanges changes = new SessionChanges(tx);
    return s.status().equals(SessionStatusMachine.IN_PROGRESS)
        ? changes.moveTo(s, SessionStatusMachine.COMPLETED, "")
        : changes.moveTo(s, SessionStatusMachine.CANCELLED, reason);
  }

  /** Whether the session has ended (COMPLETED, CANCELLED, NO_SHOW, FAILED). */
  public static boolean terminal(SessionRow s) {
    return SessionStatusMachine.terminal(s.status());
  }

  /** The tenant's session as it is now, unlocked. */
  public static java.util.Optional<SessionRow> read(Handle h, String tenantId, String sessionId) {
    return SessionStore.read(h, tenantId, sessionId);
  }

  /** NOT_FOUND (SESSION_NOT_FOUND) for {@code sessionId}. */
  public static dev.convene.server.grpc.ConveneException notFound(String sessionId) {
    return SessionService.sessionNotFound(sessionId);
  }

  /** A session's event as the contract shows it. */
  public static dev.convene.v1.SessionEvent toProto(dev.convene.server.platform.EventRow event) {
    return SessionMapper.toProto(event);
  }

  /** The aggregate type of sessions' events in the log. */
  public static final String AGGREGATE = SessionChanges.AGGREGATE;

  /** Whether {@code event}, of a session, moved it to a terminal status: nothing follows but what it committed with. */
  public static boolean ends(dev.convene.server.platform.EventRow event) {
    if (!event.type().equals("STATUS_CHANGED")) {
      return false;
    }
    com.google.protobuf.Value to = dev.convene.server.platform.EventLog.payload(event).getFieldsMap().get("to");
    return to != null && SessionStatusMachine.terminal(to.getStringValue());
  }

  /** The session as the contract shows it. */
  public static dev.convene.v1.Session toProto(SessionRow s) {
    return SessionMapper.toProto(s);
  }

  /** The session's roster, present participants first, then in roster order; at most {@code limit}. */
  public static java.util.List<dev.convene.v1.Participant> roster(Handle h, String tenantId, String sessionId,
      int limit) {
    return SessionStore.roster(h, tenantId, sessionId, limit).stream().map(SessionMapper::toProto).toList();
  }

  /**
   * A page of the sessions on {@code userId}'s roster that have not ended, soonest first, after
   * ({@code afterTime}, {@code afterId}); for a user's overview.
   */
  public static java.util.List<SessionRow> upcoming(Handle h, String tenantId, String userId, java.time.Instant now,
      java.time.Instant afterTime, String afterId, int limit) {
    return SessionStore.upcoming(h, tenantId, userId, now, afterTime, afterId, limit);
  }

  /** Appends an event to the session's log (the caller holds the session's lock). */
  public static void event(Tx tx, SessionRow s, SessionEventType type, Map<String, ?> payload) {
    new SessionChanges(tx).event(s, type, payload);
  }

  /**
   * NOT_FOUND unless {@code caller} may see {@code sessionId}: a tenant's backend sees its tenant's
   * sessions, a guest only its own session, a user the sessions on whose roster it is. (A session
   * one may not see is reported as missing, never as forbidden.)
   */
  public static void requireVisible(Handle h, Principal caller, String sessionId) {
    if (caller.isTenant()) {
      return;
    }
    boolean visible = caller.sessionId() == null || caller.sessionId().equals(sessionId);
    visible = visible && SessionStore.findParticipant(h, caller.tenantId(), sessionId, caller.userId()).isPresent();
    if (!visible) {
      throw SessionService.sessionNotFound(sessionId);
    }
  }

  /** PERMISSION_DENIED (ACTING_FOR_OTHER_USER) when an end user or guest names another user. */
  public static void requireSelf(Principal caller, String userId) {
    if (!caller.isTenant() && !caller.userId().equals(userId)) {
      throw ConveneException.permissionDenied(ErrorReason.ACTING_FOR_OTHER_USER,
          "a " + (caller.sessionId() == null ? "user" : "guest") + " credential may act only for its own user");
    }
  }

  /**
   * Removes {@code userId} from the call of the locked, open session {@code s}: a participant who is
   * present leaves as LeaveSession would (the empty timeout follows), {@code ban} sets the ban, and
   * a PARTICIPANT_KICKED event records it. Returns the roster entry afterwards.
   */
  public static ParticipantRow kick(Tx tx, SessionRow s, String userId, boolean ban, String reason) {
    SessionChanges changes = new SessionChanges(tx);
    ParticipantRow p = changes.participant(s, userId);
    if (p.present()) {
      p = changes.leaveSession(s, p).participant();
    }
    if (ban && !p.banned()) {
      setBanned(tx, s, userId, true);
    }
    Map<String, Object> payload = new java.util.LinkedHashMap<>();
    payload.put("user_id", userId);
    payload.put("ban", ban);
    if (!reason.isEmpty()) {
      payload.put("reason", reason);
    }
    changes.event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_KICKED, payload);
    return changes.participant(s, userId);
  }

  /** Lifts {@code userId}'s ban in the locked session {@code s} (a PARTICIPANT_UNBANNED event when there was one). */
  public static ParticipantRow unban(Tx tx, SessionRow s, String userId) {
    SessionChanges changes = new SessionChanges(tx);
    ParticipantRow p = changes.participant(s, userId);
    if (p.banned()) {
      setBanned(tx, s, userId, false);
      changes.event(s, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_UNBANNED, Map.of("user_id", userId));
    }
    return changes.participant(s, userId);
  }

  /** The roster entry as the contract shows it. */
  public static dev.convene.v1.Participant toProto(ParticipantRow p) {
    return SessionMapper.toProto(p);
  }

  private static void setBanned(Tx tx, SessionRow s, String userId, boolean banned) {
    tx.handle().createUpdate(
            "UPDATE participants SET banned = :banned WHERE tenant_id = :tenantId AND session_id = :sessionId AND user_id = :userId")
        .bind("banned", banned).bind("tenantId", tx.tenantId()).bind("sessionId", s.id()).bind("userId", userId)
        .execute();
  }

  /** What the lobby decides for a join token. */
  public enum Lobby { PASS, WAITING, DENIED }

  /**
   * The lobby's word on a join token for {@code p} in the locked session {@code s}: no lobby, a
   * HOST, or an admitted participant pass; a denied one is DENIED; anyone else now WAITS (entering
   * the lobby the first time, with a LOBBY_ENTERED event, committed with the caller's transaction).
   */
  public static Lobby lobby(Tx tx, SessionRow s, ParticipantRow p) {
    if (!s.lobbyEnabled() || p.role().equals(SessionChanges.HOST) || p.admission().equals("ADMITTED")) {
      return Lobby.PASS;
    }
    if (p.admission().equals("DENIED")) {
      return Lobby.DENIED;
    }
    if (!p.admission().equals("WAITING")) {
      setAdmission(tx, s, p.userId(), "WAITING", tx.now());
      new SessionChanges(tx).event(s, SessionEventType.SESSION_EVENT_TYPE_LOBBY_ENTERED, Map.of("user_id", p.userId()));
    }
    return Lobby.WAITING;
  }

  /** Admits ({@code admit}) or turns away {@code userId} in the locked, open session {@code s}. */
  public static ParticipantRow decideAdmission(Tx tx, SessionRow s, String userId, boolean admit) {
    SessionChanges changes = new SessionChanges(tx);
    ParticipantRow p = changes.participant(s, userId);
    String to = admit ? "ADMITTED" : "DENIED";
    if (!p.admission().equals(to)) {
      setAdmission(tx, s, userId, to, p.lobbyEnterTime());
      changes.event(s, admit ? SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADMITTED
          : SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_DENIED, Map.of("user_id", userId));
    }
    return changes.participant(s, userId);
  }

  /** Who waits in the session's lobby, longest waiting first (at most {@code limit}). */
  public static java.util.List<ParticipantRow> lobby(Tx tx, SessionRow s, int limit) {
    return SessionStore.lobby(tx.handle(), tx.tenantId(), s.id(), limit);
  }

  private static void setAdmission(Tx tx, SessionRow s, String userId, String admission, java.time.Instant enter) {
    tx.handle().createUpdate("""
            UPDATE participants SET admission = :admission, lobby_enter_time = :enter
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND user_id = :userId
            """)
        .bind("admission", admission).bind("enter", enter).bind("tenantId", tx.tenantId()).bind("sessionId", s.id())
        .bind("userId", userId).execute();
  }
}
