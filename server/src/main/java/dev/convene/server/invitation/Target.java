package dev.convene.server.invitation;

import dev.convene.server.group.GroupMembers;
import dev.convene.server.platform.Tx;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.SessionEventType;
import java.util.Map;
import java.util.Optional;

/**
 * What an invitation invites into: a session (locked, {@code session} set) or a group. Every change
 * to an invitation locks its target first, then the invitation, and records its events on the
 * target's log.
 */
record Target(SessionRow session, String groupId) {
  /** The session's or the group's id. */
  String id() {
    return session != null ? session.id() : groupId;
  }

  boolean isGroup() {
    return session == null;
  }

  /** Appends {@code type} (INVITATION_CREATED, _SENT, ...: the same short name on both logs) to the target's log. */
  void event(Tx tx, String type, Map<String, ?> payload) {
    if (session != null) {
      Rosters.event(tx, session, SessionEventType.valueOf("SESSION_EVENT_TYPE_" + type), payload);
    } else {
      GroupMembers.event(tx, groupId, type, payload);
    }
  }

  /** Locks the session or the group with this id (a group that was deleted locks nothing). */
  static Target lock(Tx tx, String sessionId, String groupId) {
    if (sessionId != null) {
      return new Target(Rosters.lock(tx, sessionId), null);
    }
    GroupMembers.lock(tx, groupId);
    return new Target(null, groupId);
  }

  /** Locks the target of the tenant's invitation {@code invitationId}; empty when there is no such invitation. */
  static Optional<Target> ofInvitation(Tx tx, String invitationId) {
    return Invitations.targetOf(tx.handle(), tx.tenantId(), invitationId).map(t -> lock(tx, t[0], t[1]));
  }
}
