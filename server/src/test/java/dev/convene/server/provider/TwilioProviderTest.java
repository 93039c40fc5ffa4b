package dev.convene.server.provider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import static dev.convene.server.testing.FakeTwilio.ACCOUNT;
import static dev.convene.server.testing.FakeTwilio.KEY;
import static dev.convene.server.testing.FakeTwilio.ROOM_SID;
import static dev.convene.server.testing.FakeTwilio.error;
import static dev.convene.server.testing.FakeTwilio.participant;
import static dev.convene.server.testing.FakeTwilio.room;

import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.FakeTwilio.Answer;
import dev.convene.server.testing.FakeTwilio.Hit;
import dev.convene.v1.ParticipantRole;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jsonwebtoken.Jws;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** TwilioProvider through the real twilio-java SDK against a local fake of Twilio's REST API. */
class TwilioProviderTest {
  // ≥ 32 bytes: jjwt refuses shorter HMAC keys, as it would a real secret that short.
  static final String SECRET = "test-secret-0123456789-abcdefghijklmnop";
  static final Duration TIMEOUT = Duration.ofMillis(1500);

  FakeTwilio fake;
  List<Hit> hits;

  @BeforeEach
  void startFake() throws IOException {
    fake = new FakeTwilio();
    hits = fake.hits;
  }

  @AfterEach
  void stopFake() {
    fake.close();
  }

  private MediaProvider provider() {
    return provider(fake.url());
  }

  private static MediaProvider provider(String base) {
    return new ProviderFactory(TIMEOUT, base)
        .create(new ProviderSettings.Twilio(ACCOUNT, KEY, SECRET, "auth-token-not-used-here-0123456789", null, null, null));
  }




  @Test
  void ensureRoom_sendsEveryRoomParameterOnce_withKeyBasicAuth() {
    fake.responder = hit -> new Answer(201, room(ROOM_SID, "ses_AbC123", "in-progress"));

    ProviderRoom room = provider().ensureRoom(new RoomSpec("ses_AbC123", true, 80, Duration.ofSeconds(90),
        "https://convene.example/hooks/twilio", "de1"));

    assertEquals(new ProviderRoom("ses_AbC123", ROOM_SID, true), room);
    assertEquals(1, hits.size());
    Hit hit = hits.get(0);
    assertEquals("POST", hit.method());
    assertEquals("/v1/Rooms", hit.path());
    assertEquals(Map.of(
        "UniqueName", "ses_AbC123",
        "Type", "group",
        "MaxParticipants", "50",
        "StatusCallback", "https://convene.example/hooks/twilio",
        "StatusCallbackMethod", "POST",
        "MediaRegion", "de1",
        "EmptyRoomTimeout", "2",
        "UnusedRoomTimeout", "2",
        "AudioOnly", "true",
        "RecordParticipantsOnConnect", "false"), hit.form());
    assertEquals("Basic " + Base64.getEncoder().encodeToString((KEY + ":" + SECRET).getBytes(StandardCharsets.UTF_8)),
        hit.authorization());
  }

  @Test
  void ensureRoom_videoWithoutCallbackOrRegion_sendsNeither_andClampsTimeoutToAnHour() {
    fake.responder = hit -> new Answer(201, room(ROOM_SID, "ses_v", "in-progress"));

    provider().ensureRoom(new RoomSpec("ses_v", false, 4, Duration.ofHours(3), null, null));

    assertEquals(Map.of("UniqueName", "ses_v", "Type", "group", "MaxParticipants", "4",
        "EmptyRoomTimeout", "60", "UnusedRoomTimeout", "60", "AudioOnly", "false",
        "RecordParticipantsOnConnect", "false"), hits.get(0).form());
  }

  @Test
  void timeoutMinutes_roundsUpAndClampsToTwiliosRange() {
    assertEquals(1, TwilioProvider.timeoutMinutes(Duration.ofSeconds(10)));
    assertEquals(1, TwilioProvider.timeoutMinutes(Duration.ZERO));
    assertEquals(2, TwilioProvider.timeoutMinutes(Duration.ofSeconds(61)));
    assertEquals(60, TwilioProvider.timeoutMinutes(Duration.ofMinutes(60)));
    assertEquals(60, TwilioProvider.timeoutMinutes(Duration.ofDays(1)));
  }

  @Test
  void ensureRoom_existingUniqueName53113_fetchesAndReturnsTheRoom() {
    fake.responder = hit -> hit.method().equals("POST")
        ? new Answer(400, error(53113, 400))
        : new Answer(200, room(ROOM_SID, "ses_dup", "in-progress"));

    ProviderRoom room = provider().ensureRoom(new RoomSpec("ses_dup", false, 2, null, null, null));

    assertEquals(new ProviderRoom("ses_dup", ROOM_SID, false), room);
    assertEquals(List.of("POST /v1/Rooms", "GET /v1/Rooms/ses_dup"),
        hits.stream().map(h -> h.method() + " " + h.path()).toList());
  }

  @Test
  void serverErrorOnPost_isSentExactlyOnce_andUnavailable() {
    fake.responder = hit -> new Answer(500, error(20500, 500));

    ProviderException e = assertThrows(ProviderException.class,
        () -> provider().ensureRoom(new RoomSpec("ses_500", false, 2, null, null, null)));

    assertEquals(ProviderException.Kind.UNAVAILABLE, e.kind());
    // twilio-java's default client would have sent this POST three times.
    assertEquals(1, hits.size());
  }

  @Test
  void unauthorized_isRejected_namingTheTwilioCodeButNoSecret() {
    fake.responder = hit -> new Answer(401, error(20003, 401));

    ProviderException e = assertThrows(ProviderException.class,
        () -> provider().ensureRoom(new RoomSpec("ses_401", false, 2, null, null, null)));

    assertEquals(ProviderException.Kind.REJECTED, e.kind());
    assertTrue(e.getMessage().contains("20003"), e.getMessage());
    assertFalse(e.getMessage().contains(SECRET));
  }

  @Test
  void slowAnswer_timesOutAsUnavailable() {
    fake.responder = hit -> {
      try {
        Thread.sleep(TIMEOUT.toMillis() * 3);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return new Answer(200, room(ROOM_SID, "ses_slow", "in-progress"));
    };
    long start = System.nanoTime();

    ProviderException e = assertThrows(ProviderException.class, () -> provider().endRoom("ses_slow"));

    assertEquals(ProviderException.Kind.UNAVAILABLE, e.kind());
    assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(TIMEOUT.multipliedBy(2)) < 0,
        "gave up within the timeout");
  }

  @Test
  void endRoom_completesTheRoomByName() {
    fake.responder = hit -> new Answer(200, room(ROOM_SID, "ses_end", "completed"));

    provider().endRoom("ses_end");

    assertEquals(1, hits.size());
    assertEquals("POST", hits.get(0).method());
    assertEquals("/v1/Rooms/ses_end", hits.get(0).path());
    assertEquals(Map.of("Status", "completed"), hits.get(0).form());
  }

  @Test
  void endRoom_missingOrCompletedRoom_isNotAnError() {
    MediaProvider provider = provider();
    for (Answer answer : List.of(new Answer(404, error(20404, 404)), new Answer(404, error(53106, 404)),
        new Answer(400, error(53118, 400)))) {
      fake.responder = hit -> answer;
      provider.endRoom("ses_gone");
    }
    assertEquals(3, hits.size());
  }

  @Test
  void endRoom_otherRejection_throwsRejected() {
    fake.responder = hit -> new Answer(400, error(53119, 400));

    ProviderException e = assertThrows(ProviderException.class, () -> provider().endRoom("ses_x"));

    assertEquals(ProviderException.Kind.REJECTED, e.kind());
  }

  static String recordingRules(String rules) {
    return """
        {"room_sid":"%s","rules":%s,"date_created":"2026-08-22T10:00:00Z","date_updated":"2026-08-22T10:05:00Z"}
        """.formatted(ROOM_SID, rules);
  }

  @Test
  void setRecording_postsTheRoomsRecordingRules_includeAllWhenOn_excludeAllWhenOff() {
    fake.responder = hit -> new Answer(202, recordingRules(hit.form().get("Rules")));
    MediaProvider provider = provider();

    assertEquals(MediaProvider.RecordingControl.APPLIED, provider.setRecording("ses_rec", true));
    provider.setRecording("ses_rec", false);

    assertEquals(2, hits.size());
    assertEquals("POST", hits.get(0).method());
    assertEquals("/v1/Rooms/ses_rec/RecordingRules", hits.get(0).path());
    assertEquals(Map.of("Rules", "[{\"type\":\"include\",\"all\":true}]"), hits.get(0).form());
    assertEquals("/v1/Rooms/ses_rec/RecordingRules", hits.get(1).path());
    assertEquals(Map.of("Rules", "[{\"type\":\"exclude\",\"all\":true}]"), hits.get(1).form());
    assertEquals("Basic " + Base64.getEncoder().encodeToString((KEY + ":" + SECRET).getBytes(StandardCharsets.UTF_8)),
        hits.get(1).authorization());
  }

  @Test
  void setRecording_unknownRoom_isRejected_soTheJobRetries() {
    fake.responder = hit -> new Answer(404, error(20404, 404));

    ProviderException e = assertThrows(ProviderException.class, () -> provider().setRecording("ses_none", true));

    assertEquals(ProviderException.Kind.REJECTED, e.kind());
  }

  @Test
  void removeParticipant_disconnectsByIdentity_andMissingIsFine() {
    fake.responder = hit -> new Answer(202, participant("usr_1", "disconnected"));
    MediaProvider provider = provider();

    provider.removeParticipant("ses_k", "usr_1");

    assertEquals("POST", hits.get(0).method());
    assertEquals("/v1/Rooms/ses_k/Participants/usr_1", hits.get(0).path());
    assertEquals(Map.of("Status", "disconnected"), hits.get(0).form());

    fake.responder = hit -> new Answer(404, error(20404, 404));
    provider.removeParticipant("ses_k", "usr_absent");
    assertEquals(2, hits.size());
  }


  @Test
  void connectedIdentities_readsConnectedParticipants() {
    fake.responder = hit -> new Answer(200, """
        {"participants":[%s,%s],
         "meta":{"page":0,"page_size":50,"first_page_url":"https://video.twilio.com/v1/Rooms/ses_l/Participants?Status=connected&PageSize=50&Page=0",
                 "previous_page_url":null,"url":"https://video.twilio.com/v1/Rooms/ses_l/Participants?Status=connected&PageSize=50&Page=0",
                 "next_page_url":null,"key":"participants"}}
        """.formatted(participant("usr_a", "connected"), participant("usr_b", "connected")));

    List<String> identities = provider().connectedIdentities("ses_l");

    assertEquals(List.of("usr_a", "usr_b"), identities);
    assertEquals("GET", hits.get(0).method());
    assertEquals("/v1/Rooms/ses_l/Participants", hits.get(0).path());
    assertEquals("connected", hits.get(0).query().get("Status"));
  }

  @Test
  void connectedIdentities_unknownRoom_isEmpty() {
    fake.responder = hit -> new Answer(404, error(20404, 404));

    assertEquals(List.of(), provider().connectedIdentities("ses_none"));
  }

  static String account(String status) {
    return """
        {"sid":"%s","friendly_name":"Convene test","status":"%s","type":"Full","owner_account_sid":"%s",
         "date_created":"Thu, 30 Jul 2015 20:00:00 +0000","date_updated":"Thu, 30 Jul 2015 20:00:00 +0000",
         "uri":"/2010-04-01/Accounts/%s.json","subresource_uris":{}}
        """.formatted(ACCOUNT, status, ACCOUNT, ACCOUNT);
  }

  static final String KEY_JSON = """
      {"sid":"%s","friendly_name":"convene","date_created":"Thu, 30 Jul 2015 20:00:00 +0000",
       "date_updated":"Thu, 30 Jul 2015 20:00:00 +0000"}
      """.formatted(KEY);

  private Function<Hit, Answer> accountAndKey(String status) {
    return hit -> hit.path().endsWith("/Keys/" + KEY + ".json")
        ? new Answer(200, KEY_JSON)
        : new Answer(200, account(status));
  }

  @Test
  void checkCredentials_goodKey_activeAccount_isValid() {
    fake.responder = accountAndKey("active");

    CredentialCheckResult result = provider().checkCredentials();

    assertEquals(new CredentialCheckResult(true, "active", true, true, ""), result);
    assertEquals(List.of("GET /2010-04-01/Accounts/" + ACCOUNT + ".json",
            "GET /2010-04-01/Accounts/" + ACCOUNT + "/Keys/" + KEY + ".json"),
        hits.stream().map(h -> h.method() + " " + h.path()).toList());
  }

  @Test
  void checkCredentials_suspendedAccount_isInvalidWithItsStatus() {
    fake.responder = accountAndKey("suspended");

    CredentialCheckResult result = provider().checkCredentials();

    assertFalse(result.valid());
    assertEquals("suspended", result.accountStatus());
    assertTrue(result.apiKeyValid());
    assertTrue(result.credentialsMatch());
    assertTrue(result.detail().contains("suspended"), result.detail());
  }

  @Test
  void checkCredentials_badSecret401_keyInvalidAndNoMatch() {
    fake.responder = hit -> new Answer(401, error(20003, 401));

    CredentialCheckResult result = provider().checkCredentials();

    assertFalse(result.valid());
    assertFalse(result.apiKeyValid());
    assertFalse(result.credentialsMatch());
    assertTrue(result.detail().contains("20003"), result.detail());
    assertFalse(result.detail().contains(SECRET));
  }

  @Test
  void checkCredentials_keyOfAnotherAccount404_noMatch() {
    fake.responder = hit -> hit.path().contains("/Keys/")
        ? new Answer(404, error(20404, 404))
        : new Answer(200, account("active"));

    CredentialCheckResult result = provider().checkCredentials();

    assertFalse(result.valid());
    assertFalse(result.credentialsMatch());
  }

  @Test
  void checkCredentials_unreachable_isInvalidWithDetail_neverThrows() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }

    CredentialCheckResult result = provider("http://localhost:" + closedPort).checkCredentials();

    assertFalse(result.valid());
    assertTrue(result.detail().contains("unreachable"), result.detail());
  }

  @Test
  void unreachable_roomCall_isUnavailable() throws IOException {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = s.getLocalPort();
    }

    ProviderException e = assertThrows(ProviderException.class,
        () -> provider("http://localhost:" + closedPort).ensureRoom(new RoomSpec("ses_u", false, 2, null, null, null)));

    assertEquals(ProviderException.Kind.UNAVAILABLE, e.kind());
  }

  /**
   * Verifies the signature with jjwt and returns header and payload. Twilio's {@code cty} header
   * makes jjwt treat the payload as opaque content, so the claims are read from its JSON.
   */
  private static Verified parse(String token) {
    Jws<byte[]> jws = Jwts.parser().verifyWith(Keys.hmacShaKeyFor(SECRET.getBytes(StandardCharsets.UTF_8))).build()
        .parseSignedContent(token);
    try {
      ObjectMapper json = new ObjectMapper();
      Map<String, Object> payload = json.readValue(jws.getPayload(), new TypeReference<>() {});
      // jjwt reports cty expanded to "application/..."; the wire value is read from the raw header.
      Map<String, Object> header = json.readValue(
          Base64.getUrlDecoder().decode(token.substring(0, token.indexOf('.'))), new TypeReference<>() {});
      return new Verified(header, payload);
    } catch (IOException e) {
      throw new AssertionError("payload is not JSON", e);
    }
  }

  record Verified(Map<String, Object> header, Map<String, Object> claims) {
    Instant instant(String claim) {
      return Instant.ofEpochSecond(((Number) claims.get(claim)).longValue());
    }
  }

  @Test
  void token_isATwilioAccessTokenWithTheVideoGrant() {
    Instant now = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    Instant expire = now.plus(Duration.ofMinutes(30));

    IssuedToken issued = provider().token(new TokenSpec("ses_Tok", "usr_alice", "Alice", ParticipantRole.PARTICIPANT_ROLE_HOST,
        now, expire, false));

    assertEquals("", issued.connectUrl());
    Verified jwt = parse(issued.token());
    assertEquals(Map.of("cty", "twilio-fpa;v=1", "alg", "HS256", "typ", "JWT"), jwt.header());
    assertEquals(KEY, jwt.claims().get("iss"));
    assertEquals(ACCOUNT, jwt.claims().get("sub"));
    assertEquals(now, jwt.instant("nbf"));
    // The SDK stamps exp from its own clock: now + ttl, within the test's run time.
    long drift = Math.abs(jwt.instant("exp").getEpochSecond() - expire.getEpochSecond());
    assertTrue(drift <= 5, "exp drift " + drift);
    assertEquals(Map.of("identity", "usr_alice", "video", Map.of("room", "ses_Tok")), jwt.claims().get("grants"));
  }

  @Test
  void token_observerGetsTheSameVideoGrant() {
    Instant now = Instant.now();

    IssuedToken issued = provider().token(new TokenSpec("ses_Tok", "usr_obs", "", ParticipantRole.PARTICIPANT_ROLE_OBSERVER,
        now, now.plusSeconds(600), false));

    assertEquals(Map.of("identity", "usr_obs", "video", Map.of("room", "ses_Tok")),
        parse(issued.token()).claims().get("grants"));
  }

  @Test
  void token_longerThanADay_isCappedAtTwiliosMaximum() {
    Instant now = Instant.now();

    IssuedToken issued = provider().token(new TokenSpec("ses_Tok", "usr_a", "A", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT,
        now, now.plus(Duration.ofDays(3)), false));

    Instant exp = parse(issued.token()).instant("exp");
    long overDay = exp.getEpochSecond() - now.plus(Duration.ofDays(1)).getEpochSecond();
    assertTrue(Math.abs(overDay) <= 5, "exp is a day out, off by " + overDay);
  }

  @Test
  void token_doesNotCallTwilio() {
    Instant now = Instant.now();
    provider().token(new TokenSpec("ses_Tok", "usr_a", "A", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT, now,
        now.plusSeconds(60), false));
    assertEquals(List.of(), hits);
  }
}
