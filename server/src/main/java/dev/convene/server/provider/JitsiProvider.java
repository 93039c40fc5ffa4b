package dev.convene.server.provider;

import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ProviderKind;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.crypto.SecretKey;

/**
 * Jitsi Meet with Prosody token authentication: signed meeting links (HS256 JWT), no room API.
 *
 * <p>Room names: Prosody lowercases the token's {@code room} claim and compares it with the MUC
 * room node, which Jitsi also lowercases. Session ids are mixed-case base62, so the room is the
 * lowercased session id, in the claim and in the link alike. Two sessions differing only in case
 * would share a room; with 20 random characters that chance is about 2^-103, accepted.
 *
 * <p>Jitsi has no API to create, end or inspect rooms: {@link #ensureRoom} only names the room,
 * {@link #endRoom} and {@link #removeParticipant} do nothing (a removed participant's token still
 * works until it expires, so keep Jitsi tokens short), and {@link #connectedIdentities} throws
 * {@link UnsupportedOperationException} rather than answer an empty list that would read as
 * "everybody left".
 */
final class JitsiProvider implements MediaProvider {
  /** HS256 needs at least a 256-bit key (RFC 7518 §3.2; jjwt enforces it). */
  static final int MIN_SECRET_BYTES = 32;

  // Jitsi enables a feature iff String(value) === "true"; every key is spelled out so that no
  // client default applies, and Prosody sends no default moderator permissions when
  // context.features is present.
  private static final List<String> HOST_FEATURES = List.of("recording", "livestreaming", "transcription",
      "screen-sharing", "create-polls", "send-groupchat", "send-private-message", "flip", "lobby", "moderation",
      "list-visitors", "file-upload", "live-translation");
  private static final List<String> PARTICIPANT_FEATURES = List.of("screen-sharing", "create-polls",
      "send-groupchat", "send-private-message", "flip", "file-upload", "live-translation");
  /** Dial-out and SIP cost money or reach the phone network: nobody gets them from a Convene token. */
  private static final List<String> ALL_FEATURES = List.of("recording", "livestreaming", "transcription",
      "screen-sharing", "create-polls", "send-groupchat", "send-private-message", "flip", "lobby", "moderation",
      "list-visitors", "file-upload", "live-translation", "outbound-call", "inbound-call", "sip-outbound-call",
      "sip-inbound-call");

  private final ProviderSettings.Jitsi settings;

  JitsiProvider(ProviderSettings.Jitsi settings) {
    this.settings = settings;
  }

  @Override
  public ProviderKind kind() {
    return ProviderKind.PROVIDER_KIND_JITSI;
  }

  /** The room Jitsi will use for a session: the lowercased session id (see the class comment). */
  static String room(String roomName) {
    return roomName.toLowerCase(Locale.ROOT);
  }

  @Override
  public ProviderRoom ensureRoom(RoomSpec spec) {
    return new ProviderRoom(room(spec.roomName()), null, false);
  }

  @Override
  public void endRoom(String roomName) {
    // No room API: the room ends when its last participant leaves.
  }

  @Override
  public List<String> connectedIdentities(String roomName) {
    throw new UnsupportedOperationException("Jitsi has no API to list a room's participants");
  }

  @Override
  public void removeParticipant(String roomName, String identity) {
    // No API: a moderator in the meeting can kick; Convene can only stop minting tokens.
  }

  /**
   * {@inheritDoc} Jitsi has no room API: a HOST's token carries {@code context.features.recording}
   * "true" only while recording is allowed when it is minted (see {@link TokenSpec#recordingAllowed}).
   */
  @Override
  public RecordingControl setRecording(String roomName, boolean on) {
    return RecordingControl.IN_TOKENS;
  }

  /**
   * {@inheritDoc} Claims per Prosody's token auth: {@code iss} and {@code aud} the app id, {@code sub}
   * the domain, {@code room}, {@code nbf}/{@code iat}/{@code exp} (exp always: without it a Jitsi
   * token never expires), {@code context.user} (HOST: owner, moderator, lobby bypass) and an explicit
   * {@code context.features} for every role.
   */
  @Override
  public IssuedToken token(TokenSpec spec) {
    if (!spec.expireTime().isAfter(spec.issueTime())) {
      throw new IllegalArgumentException("token expires before it is issued");
    }
    boolean host = spec.role() == ParticipantRole.PARTICIPANT_ROLE_HOST;
    Map<String, Object> user = new LinkedHashMap<>();
    user.put("id", spec.identity());
    user.put("name", spec.displayName() == null ? "" : spec.displayName());
    user.put("affiliation", host ? "owner" : "member");
    user.put("moderator", host);
    if (host) {
      // Read by jitsi-contrib's token_lobby_bypass, which wants a boolean true.
      user.put("lobby_bypass", true);
    }
    String room = room(spec.roomName());
    String jwt = Jwts.builder()
        .header().type("JWT").and()
        .issuer(settings.appId())
        .audience().single(settings.appId())
        .subject(settings.domain())
        .claim("room", room)
        .notBefore(Date.from(spec.issueTime()))
        .issuedAt(Date.from(spec.issueTime()))
        .expiration(Date.from(spec.expireTime()))
        .claim("context", Map.of("user", user, "features", features(spec.role(), spec.recordingAllowed())))
        .signWith(key(settings.appSecret()), Jwts.SIG.HS256)
        .compact();
    return new IssuedToken(jwt, "https://" + settings.domain() + "/" + room + "?jwt=" + jwt);
  }

  /**
   * Every feature key, "true" or "false", by role; {@code recording} only for a HOST while recording
   * is allowed (seed 003: recording off unless consented).
   */
  static Map<String, String> features(ParticipantRole role, boolean recordingAllowed) {
    List<String> enabled = switch (role) {
      case PARTICIPANT_ROLE_HOST -> HOST_FEATURES;
      case PARTICIPANT_ROLE_PARTICIPANT -> PARTICIPANT_FEATURES;
      case PARTICIPANT_ROLE_OBSERVER -> List.of();
      default -> throw new IllegalArgumentException("no Jitsi rights for role " + role);
    };
    Map<String, String> features = new LinkedHashMap<>();
    for (String f : ALL_FEATURES) {
      features.put(f, String.valueOf(enabled.contains(f) && (!f.equals("recording") || recordingAllowed)));
    }
    return features;
  }

  private static SecretKey key(String secret) {
    return Keys.hmacShaKeyFor(secret.getBytes(StandardCharsets.UTF_8));
  }

  /** Only the settings' shape can be checked: Jitsi has no API to ask. */
  @Override
  public CredentialCheckResult checkCredentials() {
    String problem = null;
    if (settings.domain() == null || settings.domain().isBlank() || settings.domain().contains("/")) {
      problem = "the domain must be a host name such as meet.example.org";
    } else if (settings.appId() == null || settings.appId().isBlank()) {
      problem = "the app id is empty";
    } else if (settings.appSecret() == null
        || settings.appSecret().getBytes(StandardCharsets.UTF_8).length < MIN_SECRET_BYTES) {
      problem = "the app secret must be at least " + MIN_SECRET_BYTES + " bytes for HS256";
    }
    return problem == null
        ? new CredentialCheckResult(true, "", true, true, "Jitsi has no API to check against")
        : new CredentialCheckResult(false, "", false, false, problem);
  }
}
