package dev.convene.server.session;

import dev.convene.server.grpc.ConveneException;
import dev.convene.server.platform.Tx;
import dev.convene.v1.SessionEventType;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What the media provider says about a session's call, applied to Convene's presence with the
 * same join and leave logic as JoinSession and LeaveSession (so the automatic status moves follow):
 * a provider event (a webhook) about one participant or the room, and a reconciliation that
 * compares the provider's participant list with Convene's presence. Per participant, the time of
 * the newest provider observation applied is kept, and an older one is not applied: a late
 * "connected" after a "disconnected" does not bring presence back.
 */
public final class ProviderPresence {
  private ProviderPresence() {}

  /** What became of one provider observation. */
  public enum Outcome {
    /** Presence or the session changed. */
    APPLIED,
    /** Convene already had it so (the observation's time is recorded). */
    UNCHANGED,
    /** Older than an observation already applied to that participant: not applied. */
    STALE,
    /** Not about a session's current room, or about a user not on its roster, or the session ended. */
    IGNORED
  }

  /** Where a change came from, as the PARTICIPANT_JOINED/LEFT events record it. */
  public static final Map<String, Object> FROM_WEBHOOK = Map.of("source", "provider_webhook");
  public static final Map<String, Object> FROM_RECONCILIATION = Map.of("source", "reconciliation", "corrective", true);

  /**
   * The provider saw {@code userId} connect ({@code connected}) or disconnect at {@code at} in room
   * {@code roomName} of provider {@code provider} (e.g. "LIVEKIT").
   */
  public static Outcome participant(Tx tx, String provider, String roomName, String userId, boolean connected,
      Instant at) {
    Optional<SessionRow> locked = lockRoom(tx, provider, roomName);
    if (locked.isEmpty() || SessionStatusMachine.terminal(locked.get().status())) {
      return Outcome.IGNORED;
    }
    SessionRow s = locked.get();
    SessionChanges changes = new SessionChanges(tx);
    Optional<ParticipantRow> found = SessionStore.findParticipant(tx.handle(), tx.tenantId(), s.id(), userId);
    if (found.isEmpty()) {
      return Outcome.IGNORED;
    }
    Instant last = lastObserved(tx, s.id(), userId);
    if (last != null && at.isBefore(last)) {
      return Outcome.STALE;
    }
    observed(tx, s.id(), userId, at);
    return move(changes, s, found.get(), connected, FROM_WEBHOOK).isPresent() ? Outcome.APPLIED : Outcome.UNCHANGED;
  }

  /**
   * The provider's room {@code roomName} ended at {@code at}: everyone present leaves, the room is
   * recorded as ended, and a session in progress completes (one that has not started keeps its
   * status; its next join token opens a new room).
   */
  public static Outcome roomEnded(Tx tx, String provider, String roomName, Instant at) {
    Optional<SessionRow> locked = lockRoom(tx, provider, roomName);
    if (locked.isEmpty() || SessionChanges.ROOM_ENDED.equals(locked.get().room().state())) {
      return locked.isEmpty() ? Outcome.IGNORED : Outcome.UNCHANGED;
    }
    SessionRow s = locked.get();
    SessionChanges changes = new SessionChanges(tx);
    SessionRow.Room ended = new SessionRow.Room(s.room().provider(), s.room().name(), s.room().sid(),
        SessionChanges.ROOM_ENDED);
    Rosters.setRoom(tx, s, ended);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("provider", s.room().provider());
    payload.put("room_name", roomName);
    payload.putAll(FROM_WEBHOOK);
    changes.event(s, SessionEventType.SESSION_EVENT_TYPE_PROVIDER_ROOM_ENDED, payload);
    s = s.withRoom(ended);
    if (SessionStatusMachine.terminal(s.status())) {
      return Outcome.APPLIED;
    }
    if (s.status().equals(SessionStatusMachine.IN_PROGRESS)) {
      Instant end = at.isAfter(tx.now()) ? tx.now() : at;
      changes.moveTo(s, SessionStatusMachine.COMPLETED, "provider room ended", List.of(), end);
      return Outcome.APPLIED;
    }
    for (ParticipantRow p : SessionStore.presentParticipants(tx.handle(), tx.tenantId(), s.id())) {
      s = changes.leaveSession(s, p, FROM_WEBHOOK).session();
    }
    return Outcome.APPLIED;
  }

  /** A session's provider room to reconcile: its provider ("LIVEKIT") and room name. */
  public record Room(String provider, String name) {}

  /**
   * The room to compare with the provider now, if session {@code sessionId} still has a live one
   * (its room ACTIVE and the session open).
   */
  public static Optional<Room> roomToReconcile(Tx tx, String sessionId) {
    Optional<SessionRow> s = SessionStore.lock(tx.handle(), tx.tenantId(), sessionId);
    if (s.isEmpty() || SessionStatusMachine.terminal(s.get().status())
        || !SessionChanges.ROOM_ACTIVE.equals(s.get().room().state())) {
      return Optional.empty();
    }
    SessionRow.Room room = s.get().room();
    return Optional.of(new Room(room.provider(), room.name() == null ? sessionId : room.name()));
  }

  /**
   * Makes presence match {@code connected}, the identities the provider listed in the room at
   * {@code listedAt}: roster users it lists join, present users it does not list leave, each with a
   * corrective event. A participant with a provider event newer than the listing is left alone
   * (the event knows better), and so is one whose presence moved less than {@code settle} before
   * the listing (a client still connecting). Returns the user ids changed.
   */
  public static List<String> reconcile(Tx tx, String sessionId, Room room, Set<String> connected, Instant listedAt,
      java.time.Duration settle) {
    Optional<SessionRow> locked = lockRoom(tx, room.provider(), room.name());
    List<String> changed = new ArrayList<>();
    if (locked.isEmpty() || SessionStatusMachine.terminal(locked.get().status())
        || !SessionChanges.ROOM_ACTIVE.equals(locked.get().room().state())) {
      return changed;
    }
    SessionRow s = locked.get();
    SessionChanges changes = new SessionChanges(tx);
    List<Observed> roster = tx.handle().createQuery("""
            SELECT user_id, present, provider_event_time, GREATEST(last_join_time, last_leave_time)
            FROM participants
            WHERE tenant_id = :tenantId AND session_id = :sessionId ORDER BY id
            """).bind("tenantId", tx.tenantId()).bind("sessionId", s.id())
        .map((rs, ctx) -> new Observed(rs.getString(1), rs.getBoolean(2), instant(rs, 3), instant(rs, 4))).list();
    for (Observed row : roster) {
      String userId = row.userId();
      boolean listed = connected.contains(userId);
      boolean newerEvent = row.providerTime() != null && !row.providerTime().isBefore(listedAt);
      // A join or leave this recent may not have reached the provider yet (the client still connecting).
      boolean recent = row.lastMove() != null && row.lastMove().isAfter(listedAt.minus(settle));
      if (row.present() == listed || newerEvent || recent) {
        continue;
      }
      Optional<SessionRow> next = move(changes, s, changes.participant(s, userId), listed, FROM_RECONCILIATION);
      if (next.isPresent()) {
        observed(tx, s.id(), userId, listedAt);
        changed.add(userId);
        s = next.get();
      }
    }
    return changed;
  }

  /** A roster entry as reconciliation weighs it: presence, newest provider observation, last move. */
  private record Observed(String userId, boolean present, Instant providerTime, Instant lastMove) {}

  private static Instant instant(java.sql.ResultSet rs, int column) throws java.sql.SQLException {
    java.time.OffsetDateTime t = rs.getObject(column, java.time.OffsetDateTime.class);
    return t == null ? null : t.toInstant();
  }

  /**
   * Moves {@code p}'s presence to {@code connected}; the session afterwards, or empty when nothing
   * moved (it was so already, or the session is full: the provider let one more in than the
   * session allows, and Convene's limit stands).
   */
  private static Optional<SessionRow> move(SessionChanges changes, SessionRow s, ParticipantRow p, boolean connected,
      Map<String, Object> source) {
    if (p.present() == connected) {
      return Optional.empty();
    }
    if (!connected) {
      return Optional.of(changes.leaveSession(s, p, source).session());
    }
    try {
      return Optional.of(changes.join(s, p, source).session());
    } catch (ConveneException e) {
      return Optional.empty();
    }
  }

  /** The session whose current room this is, locked; empty for a room Convene does not know. */
  private static Optional<SessionRow> lockRoom(Tx tx, String provider, String roomName) {
    // Convene names each room after its session (RoomSpec); the stored room confirms it.
    Optional<SessionRow> s = SessionStore.lock(tx.handle(), tx.tenantId(), roomName)
        .filter(row -> provider.equals(row.room().provider()))
        .filter(row -> roomName.equals(row.room().name() == null ? row.id() : row.room().name()));
    s.ifPresent(tx::locked);
    return s;
  }

  private static Instant lastObserved(Tx tx, String sessionId, String userId) {
    return tx.handle().createQuery("""
            SELECT provider_event_time FROM participants
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND user_id = :userId
            """).bind("tenantId", tx.tenantId()).bind("sessionId", sessionId).bind("userId", userId)
        .mapTo(Instant.class).findOne().orElse(null);
  }

  private static void observed(Tx tx, String sessionId, String userId, Instant at) {
    tx.handle().createUpdate("""
            UPDATE participants SET provider_event_time = :at
            WHERE tenant_id = :tenantId AND session_id = :sessionId AND user_id = :userId
            """).bind("at", at).bind("tenantId", tx.tenantId()).bind("sessionId", sessionId).bind("userId", userId)
        .execute();
  }
}
