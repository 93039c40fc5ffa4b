package dev.convene.server.provider;

import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ProviderKind;
import io.livekit.server.AccessToken;
import io.livekit.server.CanPublish;
import io.livekit.server.CanPublishData;
import io.livekit.server.CanSubscribe;
import io.livekit.server.Hidden;
import io.livekit.server.RoomAdmin;
import io.livekit.server.RoomJoin;
import io.livekit.server.RoomName;
import io.livekit.server.RoomServiceClient;
import io.livekit.server.VideoGrant;
import java.io.IOException;
import java.net.URI;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import livekit.LivekitModels;
import okhttp3.OkHttpClient;
import okhttp3.ResponseBody;
import retrofit2.Call;
import retrofit2.Response;

/** LiveKit (self-hosted or Cloud) through its Kotlin server SDK: RoomService over Twirp, access tokens signed locally. */
final class LiveKitProvider implements MediaProvider {
  private static final Pattern TWIRP_CODE = Pattern.compile("\"code\"\\s*:\\s*\"([a-z_]+)\"");

  private final ProviderSettings.LiveKit settings;
  private final RoomServiceClient rooms;
  private final String connectUrl;

  /**
   * @param http carries the factory's timeout; shared by every provider the factory builds
   * @throws IllegalArgumentException when the URL is not http(s) or ws(s)
   */
  LiveKitProvider(ProviderSettings.LiveKit settings, OkHttpClient http) {
    this.settings = settings;
    String url = stripTrailingSlash(settings.url());
    String scheme = URI.create(url).getScheme();
    scheme = scheme == null ? "" : scheme.toLowerCase(Locale.ROOT);
    String rest = url.substring(url.indexOf(':'));
    // The API is plain HTTP(S); clients connect over WebSocket on the same host and port.
    String apiUrl = switch (scheme) {
      case "http", "ws" -> "http" + rest;
      case "https", "wss" -> "https" + rest;
      default -> throw new IllegalArgumentException("LiveKit URL must be http(s) or ws(s): " + settings.url());
    };
    this.connectUrl = (apiUrl.startsWith("https") ? "wss" : "ws") + apiUrl.substring(apiUrl.indexOf(':'));
    this.rooms = RoomServiceClient.createClient(apiUrl, settings.apiKey(), settings.apiSecret(), () -> http);
  }

  @Override
  public ProviderKind kind() {
    return ProviderKind.PROVIDER_KIND_LIVEKIT;
  }

  /**
   * {@inheritDoc} CreateRoom is idempotent by name (an existing room comes back unchanged), so it is
   * safe to call every time; a ListRooms first tells whether this call created it. Two concurrent
   * first calls may both report {@code created}: the flag is informational, the room is one.
   * {@code emptyTimeout} sets both LiveKit timeouts: before anyone joined (empty_timeout) and after the
   * last one left (departure_timeout), as RoomSpec defines it.
   */
  @Override
  public ProviderRoom ensureRoom(RoomSpec spec) {
    List<LivekitModels.Room> existing = call("list rooms", rooms.listRooms(List.of(spec.roomName())), false);
    for (LivekitModels.Room room : existing) {
      if (room.getName().equals(spec.roomName())) {
        return new ProviderRoom(spec.roomName(), room.getSid(), false);
      }
    }
    Integer timeout = spec.emptyTimeout() == null ? null : (int) Math.max(1, spec.emptyTimeout().toSeconds());
    Integer max = spec.maxParticipants() > 0 ? spec.maxParticipants() : null;
    LivekitModels.Room room = call("create room",
        rooms.createRoom(spec.roomName(), timeout, max, null, null, null, null, null, timeout), false);
    return new ProviderRoom(spec.roomName(), room.getSid(), true);
  }

  @Override
  public void endRoom(String roomName) {
    call("delete room", rooms.deleteRoom(roomName), true);
  }

  @Override
  public List<String> connectedIdentities(String roomName) {
    List<LivekitModels.ParticipantInfo> participants = call("list participants", rooms.listParticipants(roomName), true);
    if (participants == null) {
      return List.of();
    }
    // Joining participants have not connected media yet; disconnected ones are on their way out.
    return participants.stream()
        .filter(p -> p.getState() == LivekitModels.ParticipantInfo.State.ACTIVE
            || p.getState() == LivekitModels.ParticipantInfo.State.JOINED)
        .map(LivekitModels.ParticipantInfo::getIdentity)
        .toList();
  }

  @Override
  public void removeParticipant(String roomName, String identity) {
    call("remove participant", rooms.removeParticipant(roomName, identity), true);
  }

  /**
   * {@inheritDoc} LiveKit records through its Egress service, which needs an egress worker, Redis and
   * an output (file storage or a stream URL) that Convene's LiveKit settings do not carry. The
   * livekit-server used here (v1.13.5, no egress) answers StartRoomCompositeEgress with Twirp
   * {@code unavailable} "no response from servers" and ListEgress with {@code internal} "egress not
   * connected (redis required)" (see LiveKitProviderTest). So Convene keeps the recording state and
   * its events, and tells LiveKit nothing.
   */
  @Override
  public RecordingControl setRecording(String roomName, boolean on) {
    return RecordingControl.UNSUPPORTED;
  }

  /**
   * {@inheritDoc} Grants by role: HOST may join, publish, subscribe, send data and administer the
   * room (mute, kick); PARTICIPANT the same without admin; OBSERVER joins hidden and may only
   * subscribe. {@code nbf} and {@code exp} are always set (LiveKit newer than v1.13 requires exp).
   * The name claim is left out when the display name is empty, so LiveKit shows the identity.
   */
  @Override
  public IssuedToken token(TokenSpec spec) {
    if (!spec.expireTime().isAfter(spec.issueTime())) {
      throw new IllegalArgumentException("token expires before it is issued");
    }
    AccessToken token = new AccessToken(settings.apiKey(), settings.apiSecret());
    token.setIdentity(spec.identity());
    if (spec.displayName() != null && !spec.displayName().isEmpty()) {
      token.setName(spec.displayName());
    }
    token.setNotBefore(Date.from(spec.issueTime()));
    token.setExpiration(Date.from(spec.expireTime()));
    token.addGrants(grants(spec.role(), spec.roomName()));
    return new IssuedToken(token.toJwt(), connectUrl);
  }

  static List<VideoGrant> grants(ParticipantRole role, String room) {
    return switch (role) {
      case PARTICIPANT_ROLE_HOST -> List.of(new RoomJoin(true), new RoomName(room), new CanPublish(true),
          new CanSubscribe(true), new CanPublishData(true), new RoomAdmin(true));
      case PARTICIPANT_ROLE_PARTICIPANT -> List.of(new RoomJoin(true), new RoomName(room), new CanPublish(true),
          new CanSubscribe(true), new CanPublishData(true));
      // Absent publish grants mean "allowed" in LiveKit, so the denials are explicit.
      case PARTICIPANT_ROLE_OBSERVER -> List.of(new RoomJoin(true), new RoomName(room), new CanSubscribe(true),
          new CanPublish(false), new CanPublishData(false), new Hidden(true));
      default -> throw new IllegalArgumentException("no LiveKit rights for role " + role);
    };
  }

  /**
   * {@inheritDoc} A ListRooms signed with the key: 401 means the server does not know the key or the
   * secret does not match (LiveKit does not say which). LiveKit has no account, so no status.
   */
  @Override
  public CredentialCheckResult checkCredentials() {
    try {
      call("list rooms", rooms.listRooms(), false);
      return new CredentialCheckResult(true, "", true, true, "");
    } catch (ProviderException e) {
      if (e.kind() == ProviderException.Kind.UNAVAILABLE) {
        return new CredentialCheckResult(false, "", false, false, "LiveKit unreachable: " + e.getMessage());
      }
      return new CredentialCheckResult(false, "", false, false,
          e.getMessage().contains("HTTP 401")
              ? "LiveKit refused the API key and secret"
              : "LiveKit refused the check: " + e.getMessage());
    }
  }

  /**
   * Executes one SDK call. No answer or a 5xx is UNAVAILABLE, any other error REJECTED; with
   * {@code notFoundIsNull} a Twirp {@code not_found} yields null instead (a 404 {@code bad_route}
   * still fails: that is a wrong URL, not a missing room).
   */
  private static <T> T call(String what, Call<T> call, boolean notFoundIsNull) {
    Response<T> response;
    try {
      response = call.execute();
    } catch (IOException e) {
      throw new ProviderException(ProviderException.Kind.UNAVAILABLE,
          "LiveKit " + what + ": no answer (" + e.getClass().getSimpleName() + ")", e);
    } catch (RuntimeException e) {
      // The SDK decoding an answer it did not expect.
      throw new ProviderException(ProviderException.Kind.UNAVAILABLE,
          "LiveKit " + what + ": unusable answer (" + e.getClass().getSimpleName() + ")", e);
    }
    if (response.isSuccessful()) {
      return response.body();
    }
    String twirpCode = twirpCode(response.errorBody());
    if (notFoundIsNull && "not_found".equals(twirpCode)) {
      return null;
    }
    ProviderException.Kind kind = response.code() >= 500 ? ProviderException.Kind.UNAVAILABLE : ProviderException.Kind.REJECTED;
    throw new ProviderException(kind, "LiveKit " + what + ": HTTP " + response.code()
        + (twirpCode == null ? "" : ", " + twirpCode), null);
  }

  /** The Twirp error code of an error body; null when the body is not a Twirp error (auth failures are text/plain). */
  private static String twirpCode(ResponseBody body) {
    if (body == null) {
      return null;
    }
    try (body) {
      Matcher m = TWIRP_CODE.matcher(body.string());
      return m.find() ? m.group(1) : null;
    } catch (IOException e) {
      return null;
    }
  }

  private static String stripTrailingSlash(String s) {
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }
}
