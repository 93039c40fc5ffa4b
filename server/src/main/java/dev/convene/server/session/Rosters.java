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

  /** Locks the session, whatever its status. */
  public static SessionRow lock(Tx tx, String sessionId) {
    return new SessionChanges(tx).lock(sessionId);
  }

  /** Records the session's provider and room as they are now. */
  public static void setRoom(Tx tx, SessionRow s, SessionRow.Room room) {
    tx.handle().createUpdate("""
            UPDATE sessions SET provider = :provider, provider_room = :name, provider_room_sid = :sid, room_state = :state
            WHERE tenant_id = :tenantId AND id = :id
            """)
        .bind("provider", room.provider()).bind("name", room.name()).bind("sid", room.sid()).bind("state", room.state())
        .bind("tenantId", tx.tenantId()).bind("id", s.id()).execute();
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
}
