package dev.convene.server.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.v1.ParticipantRole;
import dev.convene.server.testing.LiveKitServer;
import io.jsonwebtoken.Claims;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import io.livekit.server.AudioMixing;
import io.livekit.server.EgressServiceClient;
import io.livekit.server.RoomServiceClient;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import livekit.LivekitEgress;
import livekit.LivekitModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** LiveKitProvider through the Kotlin server SDK against a real livekit-server v1.13.5 on loopback. */
class LiveKitProviderTest {
  static final String API_KEY = LiveKitServer.API_KEY;
  static final String SECRET = LiveKitServer.SECRET;
  static final Duration TIMEOUT = Duration.ofSeconds(5);

  static LiveKitServer server;
  static String url;
  static final ProviderFactory factory = new ProviderFactory(TIMEOUT, null);

  @BeforeAll
  static void startLiveKit() throws Exception {
    server = LiveKitServer.start("livekit-server-test");
    url = server.url();
  }

  @AfterAll
  static void stopLiveKit() throws InterruptedException {
    if (server != null) {
      server.close();
    }
  }

  static MediaProvider provider() {
    return factory.create(new ProviderSettings.LiveKit(url, API_KEY, SECRET));
  }

  /** An independent view of the server's rooms, straight through the SDK. */
  static List<LivekitModels.Room> rooms() throws IOException {
    return RoomServiceClient.createClient(url, API_KEY, SECRET).listRooms().execute().body();
  }

  static String uniqueRoom(String prefix) {
    return "ses_" + prefix + Long.toString(System.nanoTime(), 36);
  }

  @Test
  void ensureRoom_twice_isOneRoom_createdOnce_withTheSpecsLimits() throws IOException {
    String name = uniqueRoom("Twice");
    MediaProvider provider = provider();
    RoomSpec spec = new RoomSpec(name, false, 7, Duration.ofSeconds(120), null, null);

    ProviderRoom first = provider.ensureRoom(spec);
    ProviderRoom second = provider.ensureRoom(spec);

    assertTrue(first.created());
    assertFalse(second.created());
    assertEquals(first.sid(), second.sid());
    assertTrue(first.sid().startsWith("RM_"), first.sid());
    List<LivekitModels.Room> matching = rooms().stream().filter(r -> r.getName().equals(name)).toList();
    assertEquals(1, matching.size());
    assertEquals(7, matching.get(0).getMaxParticipants());
    assertEquals(120, matching.get(0).getEmptyTimeout());
    assertEquals(120, matching.get(0).getDepartureTimeout());
    provider.endRoom(name);
  }

  @Test
  void endRoom_deletesTheRoom_andASecondEndIsFine() throws IOException {
    String name = uniqueRoom("End");
    MediaProvider provider = provider();
    provider.ensureRoom(new RoomSpec(name, false, 2, Duration.ofSeconds(60), null, null));
    assertTrue(rooms().stream().anyMatch(r -> r.getName().equals(name)));

    provider.endRoom(name);

    assertFalse(rooms().stream().anyMatch(r -> r.getName().equals(name)));
    provider.endRoom(name);
  }

  @Test
  void connectedIdentities_emptyRoomAndMissingRoom_areEmpty() {
    String name = uniqueRoom("Empty");
    MediaProvider provider = provider();
    provider.ensureRoom(new RoomSpec(name, false, 2, Duration.ofSeconds(60), null, null));

    assertEquals(List.of(), provider.connectedIdentities(name));
    assertEquals(List.of(), provider.connectedIdentities(uniqueRoom("Never")));
    provider.endRoom(name);
  }

  @Test
  void removeParticipant_missingIdentityOrRoom_doesNotThrow() {
    String name = uniqueRoom("Kick");
    MediaProvider provider = provider();
    provider.ensureRoom(new RoomSpec(name, false, 2, Duration.ofSeconds(60), null, null));

    provider.removeParticipant(name, "usr_absent");
    provider.removeParticipant(uniqueRoom("Never"), "usr_absent");
    provider.endRoom(name);
  }

  /**
   * What this LiveKit answers for recording: it has no Egress service (that needs an egress worker,
   * Redis and storage), so the SDK's StartRoomCompositeEgress is a Twirp {@code unavailable} (HTTP
   * 503, "no response from servers") and ListEgress an {@code internal} (HTTP 500, "egress not
   * connected (redis required)"); the first after waiting about 20 s. Hence setRecording is UNSUPPORTED on LiveKit: Convene keeps the
   * state and calls nothing.
   */
  @Test
  void recording_thisServerHasNoEgress_soSetRecordingIsUnsupported_andLeavesTheRoomAlone() throws IOException {
    String name = uniqueRoom("Rec");
    MediaProvider provider = provider();
    provider.ensureRoom(new RoomSpec(name, false, 2, Duration.ofSeconds(60), null, null));
    // The server waits about 20 s for an egress worker before it answers.
    okhttp3.OkHttpClient patient = new okhttp3.OkHttpClient.Builder().readTimeout(Duration.ofSeconds(40)).build();
    EgressServiceClient egress = EgressServiceClient.Companion.createClient(url, API_KEY, SECRET, () -> patient);

    retrofit2.Response<LivekitEgress.EgressInfo> start = egress.startRoomCompositeEgress(name,
        LivekitEgress.EncodedFileOutput.newBuilder().setFilepath("convene-test.mp4").build(), "", null, null, false,
        false, "", AudioMixing.DEFAULT_MIXING).execute();
    assertEquals(503, start.code());
    String startError = start.errorBody().string();
    assertTrue(startError.contains("\"code\":\"unavailable\"") && startError.contains("no response from servers"),
        startError);
    retrofit2.Response<List<LivekitEgress.EgressInfo>> list = egress.listEgress(name).execute();
    assertEquals(500, list.code());
    assertTrue(list.errorBody().string().contains("egress not connected"));

    assertEquals(MediaProvider.RecordingControl.UNSUPPORTED, provider.setRecording(name, true));
    assertEquals(MediaProvider.RecordingControl.UNSUPPORTED, provider.setRecording(name, false));
    assertFalse(rooms().stream().filter(r -> r.getName().equals(name)).findFirst().orElseThrow().getActiveRecording());
    provider.endRoom(name);
  }

  static Claims claims(String token) {
    return Jwts.parser().verifyWith(Keys.hmacShaKeyFor(SECRET.getBytes(StandardCharsets.UTF_8))).build()
        .parseSignedClaims(token).getPayload();
  }

  static IssuedToken token(ParticipantRole role, String room, Instant now) {
    return provider().token(new TokenSpec(room, "usr_" + role.getNumber(), "Name " + role.getNumber(), role, now,
        now.plus(Duration.ofMinutes(20)), false));
  }

  @Test
  void tokens_carryExactlyTheGrantsOfTheirRole() {
    Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    String room = "ses_Grants";
    Map<ParticipantRole, Map<String, Object>> expected = Map.of(
        ParticipantRole.PARTICIPANT_ROLE_HOST, Map.of("roomJoin", true, "room", room, "canPublish", true,
            "canSubscribe", true, "canPublishData", true, "roomAdmin", true),
        ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, Map.of("roomJoin", true, "room", room, "canPublish", true,
            "canSubscribe", true, "canPublishData", true),
        ParticipantRole.PARTICIPANT_ROLE_OBSERVER, Map.of("roomJoin", true, "room", room, "canSubscribe", true,
            "canPublish", false, "canPublishData", false, "hidden", true));

    for (var e : expected.entrySet()) {
      IssuedToken issued = token(e.getKey(), room, now);
      Claims claims = claims(issued.token());
      assertEquals(e.getValue(), claims.get("video"), e.getKey().name());
      assertEquals(API_KEY, claims.getIssuer());
      assertEquals("usr_" + e.getKey().getNumber(), claims.getSubject());
      assertEquals("Name " + e.getKey().getNumber(), claims.get("name"));
      assertEquals(now, claims.getNotBefore().toInstant());
      assertEquals(now.plus(Duration.ofMinutes(20)), claims.getExpiration().toInstant());
      assertEquals(url.replace("http://", "ws://"), issued.connectUrl());
    }
  }

  @Test
  void tokens_areAcceptedByTheServer_roomAdminOnlyForTheHost() throws Exception {
    String name = uniqueRoom("Admin");
    MediaProvider provider = provider();
    provider.ensureRoom(new RoomSpec(name, false, 2, Duration.ofSeconds(60), null, null));
    Instant now = Instant.now();

    // ListParticipants wants roomAdmin for the token's room: the server verifies our signature and grants.
    assertEquals(200, listParticipantsWith(token(ParticipantRole.PARTICIPANT_ROLE_HOST, name, now).token(), name));
    assertEquals(401, listParticipantsWith(token(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, name, now).token(), name));
    assertEquals(401, listParticipantsWith(token(ParticipantRole.PARTICIPANT_ROLE_OBSERVER, name, now).token(), name));
    provider.endRoom(name);
  }

  static int listParticipantsWith(String token, String room) throws Exception {
    HttpRequest request = HttpRequest.newBuilder(URI.create(url + "/twirp/livekit.RoomService/ListParticipants"))
        .header("Authorization", "Bearer " + token)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"room\":\"" + room + "\"}"))
        .build();
    return HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  @Test
  void token_withHttpsUrl_connectsOverWss() {
    MediaProvider provider = factory.create(new ProviderSettings.LiveKit("https://lk.example.org/", API_KEY, SECRET));
    Instant now = Instant.now();

    IssuedToken issued = provider.token(new TokenSpec("ses_W", "usr_w", "", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT,
        now, now.plusSeconds(60), false));

    assertEquals("wss://lk.example.org", issued.connectUrl());
    // An empty display name leaves the name out, so LiveKit shows the identity.
    assertFalse(claims(issued.token()).containsKey("name"));
  }

  @Test
  void checkCredentials_rightSecret_isValid() {
    assertEquals(new CredentialCheckResult(true, "", true, true, ""), provider().checkCredentials());
  }

  @Test
  void checkCredentials_wrongSecretOrUnknownKey_isInvalid() {
    for (ProviderSettings.LiveKit wrong : List.of(
        new ProviderSettings.LiveKit(url, API_KEY, "not-the-secret-0123456789-abcdefghijklmn"),
        new ProviderSettings.LiveKit(url, "unknown-key", SECRET))) {
      CredentialCheckResult result = factory.create(wrong).checkCredentials();

      assertFalse(result.valid());
      assertFalse(result.apiKeyValid());
      assertFalse(result.credentialsMatch());
      assertNotNull(result.detail());
      assertFalse(result.detail().contains(SECRET));
    }
  }

  @Test
  void unreachableServer_isUnavailable_andCredentialsInvalidWithDetail() throws IOException {
    MediaProvider provider = factory.create(new ProviderSettings.LiveKit("http://127.0.0.1:" + LiveKitServer.freeTcpPort(), API_KEY, SECRET));

    ProviderException e = assertThrows(ProviderException.class,
        () -> provider.ensureRoom(new RoomSpec("ses_U", false, 2, null, null, null)));
    assertEquals(ProviderException.Kind.UNAVAILABLE, e.kind());

    CredentialCheckResult result = provider.checkCredentials();
    assertFalse(result.valid());
    assertTrue(result.detail().contains("unreachable"), result.detail());
  }

  @Test
  void wrongSecret_roomCall_isRejected() {
    MediaProvider provider = factory.create(
        new ProviderSettings.LiveKit(url, API_KEY, "not-the-secret-0123456789-abcdefghijklmn"));

    ProviderException e = assertThrows(ProviderException.class,
        () -> provider.ensureRoom(new RoomSpec(uniqueRoom("Rej"), false, 2, null, null, null)));

    assertEquals(ProviderException.Kind.REJECTED, e.kind());
    assertTrue(e.getMessage().contains("401"), e.getMessage());
  }
}
