package dev.convene.server.token;

import dev.convene.server.auth.Principal;
import dev.convene.server.grpc.ConveneException;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.IdKind;
import dev.convene.server.platform.Platform;
import dev.convene.server.platform.Tx;
import dev.convene.server.provider.IssuedToken;
import dev.convene.server.provider.MediaProvider;
import dev.convene.server.provider.ProviderConfigs;
import dev.convene.server.provider.ProviderException;
import dev.convene.server.provider.ProviderFactory;
import dev.convene.server.provider.ProviderRoom;
import dev.convene.server.provider.RoomSpec;
import dev.convene.server.provider.TokenSpec;
import dev.convene.server.session.Recordings;
import dev.convene.server.session.Rosters;
import dev.convene.server.session.SessionChanges;
import dev.convene.server.session.SessionRow;
import dev.convene.v1.ErrorReason;
import dev.convene.v1.JoinToken;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ProviderKind;
import dev.convene.v1.SessionEventType;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Issues join tokens. Everything the decision needs is read under the session's lock (roster
 * entry, ban, join window, provider); the room is created the first time, after Convene has
 * recorded that it is creating it (persist first) and with no transaction open while the provider
 * is called; every token is audited by a TOKEN_ISSUED event committed before the token is returned.
 */
final class JoinTokens {
  /** Tokens stay valid this long after the scheduled end. */
  static final Duration GRACE = Duration.ofMinutes(30);
  /** No token lives shorter than this (a late joiner still gets a usable one). */
  static final Duration FLOOR = Duration.ofMinutes(5);
  /** No token lives longer than this (Twilio's maximum; the others get the same bound). */
  static final Duration CEILING = Duration.ofHours(24);

  private final Platform platform;
  private final ProviderConfigs configs;
  private final ProviderFactory factory;

  JoinTokens(Platform platform, ProviderConfigs configs, ProviderFactory factory) {
    this.platform = platform;
    this.configs = configs;
    this.factory = factory;
  }

  /** What the first transaction decided: a token, or that the room must be created first. */
  private record Step(JoinToken token, RoomSpec room, ProviderConfigs.Resolved provider, ProviderKind kind,
      boolean waiting) {}

  /** A join token for {@code userId} in {@code sessionId}, asked for by {@code caller}. */
  JoinToken issue(Principal caller, String tenantId, String sessionId, String userId) {
    Rosters.requireSelf(caller, userId);
    if (caller.sessionId() != null && !caller.sessionId().equals(sessionId)) {
      throw ConveneException.notFound(ErrorReason.SESSION_NOT_FOUND, "session " + sessionId + " not found");
    }
    Step step = platform.uow().write(tenantId, caller.actor(), tx -> decide(tx, caller, sessionId, userId, null));
    if (step.waiting()) {
      // Thrown after the commit: the wait (LOBBY_ENTERED) is recorded, so hosts see who waits.
      throw ConveneException.failedPrecondition(ErrorReason.AWAITING_ADMISSION,
          "user " + userId + " waits in the lobby of session " + sessionId + " to be admitted by a host", Map.of());
    }
    if (step.token() != null) {
      return step.token();
    }
    // The room does not exist yet: create it (idempotent, so a retry or a twin request is harmless)
    // with no transaction or connection held, then issue in a second transaction.
    MediaProvider provider = factory.create(step.provider().settings());
    ProviderRoom room;
    try {
      room = provider.ensureRoom(step.room());
    } catch (ProviderException e) {
      throw providerFailed(e);
    }
    return platform.uow().write(tenantId, caller.actor(), tx -> decide(tx, caller, sessionId, userId, room)).token();
  }

  private Step decide(Tx tx, Principal caller, String sessionId, String userId, ProviderRoom created) {
    Rosters.Entry e = Rosters.lockOpen(tx, sessionId, userId);
    SessionRow s = e.session();
    if (e.participant().banned()) {
      throw ConveneException.permissionDenied(ErrorReason.PARTICIPANT_BANNED,
          "user " + userId + " is banned from session " + sessionId);
    }
    if (e.participant().present() && s.duplicateIdentity().equals("REJECT_NEW")) {
      throw ConveneException.failedPrecondition(ErrorReason.ALREADY_CONNECTED,
          "user " + userId + " is in the call already, and session " + sessionId + " rejects a second connection",
          Map.of());
    }
    Instant now = tx.now();
    Instant opens = s.scheduledStartTime().minusMillis(s.joinLeadMs());
    if (now.isBefore(opens)) {
      throw ConveneException.failedPrecondition(ErrorReason.JOIN_WINDOW_NOT_OPEN,
          "the join window of session " + sessionId + " opens at " + opens,
          Map.of("join_window_open_time", opens.toString()));
    }
    Rosters.Lobby lobby = Rosters.lobby(tx, s, e.participant());
    if (lobby == Rosters.Lobby.DENIED) {
      throw ConveneException.permissionDenied(ErrorReason.ADMISSION_DENIED,
          "user " + userId + " was turned away from the lobby of session " + sessionId);
    }
    if (lobby == Rosters.Lobby.WAITING) {
      return new Step(null, null, null, null, true);
    }
    ProviderKind kind = s.room().provider() != null ? ProviderKind.valueOf(s.room().provider())
        : configs.defaultProvider(tx.handle(), tx.tenantId()).orElseThrow(() -> notConfigured("no default provider"));
    ProviderConfigs.Resolved resolved = configs.resolve(tx.handle(), tx.tenantId(), kind)
        .orElseThrow(() -> notConfigured("no configuration for " + kind.name()));
    SessionRow.Room room = s.room();
    if (created != null && !SessionChanges.ROOM_ACTIVE.equals(room.state())) {
      room = new SessionRow.Room(kind.name(), created.name(), created.sid(), SessionChanges.ROOM_ACTIVE);
      Rosters.setRoom(tx, s, room);
      Map<String, Object> payload = new LinkedHashMap<>();
      payload.put("provider", kind.name());
      payload.put("room_name", created.name());
      if (created.sid() != null) {
        payload.put("room_sid", created.sid());
      }
      Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_PROVIDER_ROOM_CREATED, payload);
      Recordings.roomActive(tx, s);
    }
    if (!SessionChanges.ROOM_ACTIVE.equals(room.state())) {
      // Persist first: the session's provider is fixed and the room is known to be on its way.
      Rosters.setRoom(tx, s, new SessionRow.Room(kind.name(), null, null, SessionChanges.ROOM_CREATING));
      String callback = resolved.callbackUrl(tx.tenantId(), kind);
      return new Step(null, new RoomSpec(s.id(), s.media().equals("AUDIO"), s.maxParticipants(),
          Duration.ofMillis(s.emptyTimeoutMs()), callback, mediaRegion(resolved)), resolved, kind, false);
    }
    return new Step(mint(tx, caller, s, e, kind, resolved, room.name() == null ? s.id() : room.name()), null, null, kind,
        false);
  }

  private JoinToken mint(Tx tx, Principal caller, SessionRow s, Rosters.Entry e, ProviderKind kind,
      ProviderConfigs.Resolved resolved, String roomName) {
    Instant now = tx.now().truncatedTo(ChronoUnit.SECONDS);
    Instant expire = expireTime(now, s.scheduledEndTime());
    ParticipantRole role = ParticipantRole.valueOf("PARTICIPANT_ROLE_" + e.participant().role());
    // While recording is on everyone present has consented (a join without consent stops it); the
    // token's holder must have consented too, for the moment it joins.
    boolean recordingAllowed = s.recording().active() && e.participant().recordingConsent().equals("GRANTED");
    IssuedToken t = factory.create(resolved.settings()).token(new TokenSpec(roomName, e.participant().userId(),
        e.participant().displayName(), role, now, expire, recordingAllowed));
    String tokenId = platform.ids().next(IdKind.JOIN_TOKEN);
    Map<String, Object> payload = new LinkedHashMap<>();
    payload.put("token_id", tokenId);
    payload.put("user_id", e.participant().userId());
    payload.put("role", e.participant().role());
    payload.put("provider", kind.name());
    payload.put("expire_time", expire.toString());
    payload.put("requested_by", caller.kind().name());
    Rosters.event(tx, s, SessionEventType.SESSION_EVENT_TYPE_TOKEN_ISSUED, payload);
    return JoinToken.newBuilder().setTokenId(tokenId).setSessionId(s.id()).setProvider(kind).setToken(t.token())
        .setRoomName(roomName).setConnectUrl(t.connectUrl()).setIdentity(e.participant().userId()).setRole(role)
        .setExpireTime(ProtoTime.timestamp(expire)).build();
  }

  /** Until the scheduled end plus the grace, but at least the floor and at most the ceiling from now. */
  static Instant expireTime(Instant now, Instant scheduledEnd) {
    Instant wanted = scheduledEnd.plus(GRACE);
    Instant floor = now.plus(FLOOR);
    Instant ceiling = now.plus(CEILING);
    return wanted.isBefore(floor) ? floor : wanted.isAfter(ceiling) ? ceiling : wanted;
  }

  private static String mediaRegion(ProviderConfigs.Resolved r) {
    return r.settings() instanceof dev.convene.server.provider.ProviderSettings.Twilio t ? t.mediaRegion() : null;
  }

  static ConveneException notConfigured(String why) {
    return ConveneException.failedPrecondition(ErrorReason.PROVIDER_NOT_CONFIGURED,
        "the tenant's media provider is not configured: " + why, Map.of());
  }

  static ConveneException providerFailed(ProviderException e) {
    return e.kind() == ProviderException.Kind.UNAVAILABLE
        ? ConveneException.unavailable(ErrorReason.PROVIDER_UNAVAILABLE, "the media provider is unavailable: " + e.getMessage())
        : ConveneException.failedPrecondition(ErrorReason.PROVIDER_REJECTED,
            "the media provider refused the request: " + e.getMessage(), Map.of());
  }
}
