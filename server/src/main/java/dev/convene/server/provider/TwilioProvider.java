package dev.convene.server.provider;

import com.twilio.exception.ApiConnectionException;
import com.twilio.exception.ApiException;
import com.twilio.exception.TwilioException;
import com.twilio.http.HttpMethod;
import com.twilio.http.TwilioRestClient;
import com.twilio.jwt.accesstoken.AccessToken;
import com.twilio.jwt.accesstoken.VideoGrant;
import com.twilio.rest.api.v2010.Account;
import com.twilio.rest.api.v2010.account.Key;
import com.twilio.rest.video.v1.Room;
import com.twilio.rest.video.v1.RoomCreator;
import com.twilio.rest.video.v1.room.Participant;
import com.twilio.rest.video.v1.room.RecordingRules;
import dev.convene.v1.ProviderKind;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Twilio Video (group rooms) through the official SDK, authenticated with the tenant's API key.
 *
 * <p>Tokens carry a {@code video} grant for the room and nothing else: Twilio's access tokens have no
 * publish or subscribe rights, so an OBSERVER gets the same grant as everyone else and it is the
 * client's job to publish nothing (it joins with no local tracks). Convene still enforces the role
 * on its own side (roster, kicks).
 */
final class TwilioProvider implements MediaProvider {
  /** Twilio's cap on group-room participants. */
  static final int MAX_PARTICIPANTS = 50;
  /** Twilio rejects access tokens that live longer than 24 h (error 20157). */
  static final Duration MAX_TOKEN_TTL = Duration.ofHours(24);

  // Twilio error codes (https://www.twilio.com/docs/api/errors).
  static final int AUTHENTICATE = 20003;
  static final int NOT_FOUND = 20404;
  static final int ROOM_NOT_FOUND = 53106;
  static final int ROOM_EXISTS = 53113;
  static final int ROOM_COMPLETED = 53118;

  private final ProviderSettings.Twilio settings;
  private final TwilioRestClient client;

  TwilioProvider(ProviderSettings.Twilio settings, TwilioHttpClient http) {
    this.settings = settings;
    this.client = new TwilioRestClient.Builder(settings.apiKeySid(), settings.apiKeySecret())
        .accountSid(settings.accountSid())
        .httpClient(http)
        .build();
  }

  @Override
  public ProviderKind kind() {
    return ProviderKind.PROVIDER_KIND_TWILIO;
  }

  @Override
  public ProviderRoom ensureRoom(RoomSpec spec) {
    RoomCreator creator = Room.creator()
        .setUniqueName(spec.roomName())
        .setType(Room.RoomType.GROUP)
        .setAudioOnly(spec.audioOnly())
        // Recording waits for consent (StartRecording sets the room's recording rules), whatever the
        // account's default for new rooms.
        .setRecordParticipantsOnConnect(false);
    if (spec.maxParticipants() > 0) {
      creator.setMaxParticipants(Math.min(spec.maxParticipants(), MAX_PARTICIPANTS));
    }
    if (notBlank(spec.statusCallbackUrl())) {
      creator.setStatusCallback(spec.statusCallbackUrl()).setStatusCallbackMethod(HttpMethod.POST);
    }
    String region = notBlank(spec.mediaRegion()) ? spec.mediaRegion() : settings.mediaRegion();
    if (notBlank(region)) {
      creator.setMediaRegion(region);
    }
    if (spec.emptyTimeout() != null) {
      // Twilio counts these in minutes, 1..60. Rounding up keeps a room at least as long as asked.
      int minutes = timeoutMinutes(spec.emptyTimeout());
      creator.setEmptyRoomTimeout(minutes).setUnusedRoomTimeout(minutes);
    }
    try {
      Room room = call("create room", () -> creator.create(client));
      return new ProviderRoom(spec.roomName(), room.getSid(), true);
    } catch (ProviderException e) {
      // A UniqueName is unique among in-progress rooms: 53113 means the room is there already
      // (an earlier call of ours, or a concurrent one), so this is the idempotent path.
      if (!(e.getCause() instanceof ApiException api) || !Integer.valueOf(ROOM_EXISTS).equals(api.getCode())) {
        throw e;
      }
    }
    Room existing = call("fetch room", () -> Room.fetcher(spec.roomName()).fetch(client));
    return new ProviderRoom(spec.roomName(), existing.getSid(), false);
  }

  static int timeoutMinutes(Duration d) {
    long minutes = (d.toSeconds() + 59) / 60;
    return (int) Math.max(1, Math.min(60, minutes));
  }

  @Override
  public void endRoom(String roomName) {
    ignoring(Set.of(ROOM_NOT_FOUND, ROOM_COMPLETED, NOT_FOUND), "complete room",
        () -> Room.updater(roomName, Room.RoomStatus.COMPLETED).update(client));
  }

  @Override
  public List<String> connectedIdentities(String roomName) {
    try {
      return call("list participants", () -> {
        List<String> identities = new ArrayList<>();
        for (Participant p : Participant.reader(roomName).setStatus(Participant.Status.CONNECTED).read(client)) {
          identities.add(p.getIdentity());
        }
        return identities;
      });
    } catch (ProviderException e) {
      if (isOneOf(e, Set.of(ROOM_NOT_FOUND, ROOM_COMPLETED, NOT_FOUND))) {
        return List.of();
      }
      throw e;
    }
  }

  /** {@inheritDoc} An unknown participant answers HTTP 404, which {@link #ignoring} accepts whatever its code. */
  @Override
  public void removeParticipant(String roomName, String identity) {
    ignoring(Set.of(ROOM_NOT_FOUND, ROOM_COMPLETED, NOT_FOUND), "disconnect participant",
        () -> Participant.updater(roomName, identity).setStatus(Participant.Status.DISCONNECTED).update(client));
  }

  /**
   * {@inheritDoc} Through the room's Recording Rules: one rule including all tracks when on, one
   * excluding all when off. The SDK sends a non-Map {@code Rules} as {@code String.valueOf}, so the
   * JSON array goes as a string.
   */
  @Override
  public RecordingControl setRecording(String roomName, boolean on) {
    String rules = on ? "[{\"type\":\"include\",\"all\":true}]" : "[{\"type\":\"exclude\",\"all\":true}]";
    call(on ? "start recording" : "stop recording",
        () -> RecordingRules.updater(roomName).setRules(rules).update(client));
    return RecordingControl.APPLIED;
  }

  /**
   * {@inheritDoc} The SDK computes {@code exp} from its own clock as now + ttl; ttl is the span from
   * {@code issueTime} (which callers set to now) to {@code expireTime}, capped at Twilio's 24 h.
   */
  @Override
  public IssuedToken token(TokenSpec spec) {
    Duration ttl = Duration.between(spec.issueTime(), spec.expireTime());
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("token expires before it is issued");
    }
    if (ttl.compareTo(MAX_TOKEN_TTL) > 0) {
      ttl = MAX_TOKEN_TTL;
    }
    VideoGrant grant = new VideoGrant().setRoom(spec.roomName());
    String jwt = new AccessToken.Builder(settings.accountSid(), settings.apiKeySid(),
        settings.apiKeySecret().getBytes(StandardCharsets.UTF_8))
        .identity(spec.identity())
        .ttl((int) ttl.toSeconds())
        .nbf(Date.from(spec.issueTime()))
        .grant(grant)
        .build()
        .toJwt();
    return new IssuedToken(jwt, "");
  }

  /**
   * {@inheritDoc} Fetches the account (its status) and then the API key under it, both with the key's
   * own credentials. A 401 means Twilio refused the key SID and secret for this account; a 404 on the
   * key means it is not one of this account's keys. Twilio documents that Standard keys may not read
   * {@code /Accounts} or {@code /Keys}: a 403 there is taken as "authenticated, not allowed", so the
   * key counts as valid with an unknown account status (that answer is not verified against Twilio).
   */
  @Override
  public CredentialCheckResult checkCredentials() {
    String status = "";
    boolean restricted = false;
    try {
      Account account = call("fetch account", () -> Account.fetcher(settings.accountSid()).fetch(client));
      status = account.getStatus() == null ? "" : account.getStatus().toString().toLowerCase(Locale.ROOT);
    } catch (ProviderException e) {
      CredentialCheckResult refused = refusal(e, "account");
      if (refused != null) {
        return refused;
      }
      restricted = true;
    }
    try {
      call("fetch API key", () -> Key.fetcher(settings.accountSid(), settings.apiKeySid()).fetch(client));
    } catch (ProviderException e) {
      CredentialCheckResult refused = refusal(e, "API key");
      if (refused != null) {
        return refused;
      }
      restricted = true;
    }
    if (!status.isEmpty() && !status.equals("active")) {
      return new CredentialCheckResult(false, status, true, true, "the Twilio account is " + status);
    }
    return new CredentialCheckResult(true, status, true, true,
        restricted ? "key accepted; it may not read the account (Standard key), so its status is unknown" : "");
  }

  /** The result for a failed credential check step, or null when Twilio only said "forbidden". */
  private static CredentialCheckResult refusal(ProviderException e, String what) {
    if (e.kind() == ProviderException.Kind.UNAVAILABLE) {
      return new CredentialCheckResult(false, "", false, false, "Twilio unreachable: " + e.getMessage());
    }
    Integer http = httpStatus(e);
    if (http != null && http == 403) {
      return null;
    }
    if (http != null && http == 401) {
      return new CredentialCheckResult(false, "", false, false,
          "Twilio refused the API key SID and secret for this account (" + e.getMessage() + ")");
    }
    if (http != null && http == 404) {
      boolean keyStep = what.equals("API key");
      return new CredentialCheckResult(false, "", keyStep, false,
          keyStep ? "the API key is not one of this account's keys" : "Twilio does not know this account");
    }
    return new CredentialCheckResult(false, "", false, false, "Twilio refused to show the " + what + ": " + e.getMessage());
  }

  /** Runs {@code request}, taking any HTTP 404 or one of the {@code fine} Twilio codes as "nothing to do". */
  private void ignoring(Set<Integer> fine, String what, Supplier<?> request) {
    try {
      call(what, request);
    } catch (ProviderException e) {
      if (!isOneOf(e, fine) && !Integer.valueOf(404).equals(httpStatus(e))) {
        throw e;
      }
    }
  }

  private static boolean isOneOf(ProviderException e, Set<Integer> codes) {
    return e.getCause() instanceof ApiException api && api.getCode() != null && codes.contains(api.getCode());
  }

  private static Integer httpStatus(ProviderException e) {
    return e.getCause() instanceof ApiException api ? api.getStatusCode() : null;
  }

  /**
   * Runs one SDK call and maps its failures: no answer, a timeout or a 5xx is UNAVAILABLE; any other
   * Twilio error is REJECTED with its Twilio code. Twilio's own message is kept out (it may quote
   * request values); the code is enough to look it up.
   */
  static <T> T call(String what, Supplier<T> request) {
    try {
      return request.get();
    } catch (ApiException e) {
      Integer http = e.getStatusCode();
      if (http == null || http >= 500) {
        // The SDK wraps an IOException (refused, reset, timed out) in an ApiException without status.
        throw new ProviderException(ProviderException.Kind.UNAVAILABLE,
            "Twilio " + what + ": " + (http == null ? "no answer" : "HTTP " + http), e);
      }
      throw new ProviderException(ProviderException.Kind.REJECTED,
          "Twilio " + what + ": HTTP " + http + ", Twilio error " + e.getCode(), e);
    } catch (ApiConnectionException e) {
      throw new ProviderException(ProviderException.Kind.UNAVAILABLE, "Twilio " + what + ": no answer", e);
    } catch (TwilioException e) {
      // Anything else from the SDK (an answer it could not parse): the provider is not usable now.
      throw new ProviderException(ProviderException.Kind.UNAVAILABLE,
          "Twilio " + what + ": unusable answer (" + e.getClass().getSimpleName() + ")", e);
    }
  }

  private static boolean notBlank(String s) {
    return s != null && !s.isBlank();
  }
}
