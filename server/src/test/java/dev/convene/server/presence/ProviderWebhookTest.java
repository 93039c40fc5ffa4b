package dev.convene.server.presence;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.api.HttpBody;
import com.google.protobuf.ByteString;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.GrpcAssertions;
import dev.convene.server.testing.LiveKitServer;
import dev.convene.server.testing.Signatures;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.*;
import io.grpc.Metadata;
import io.grpc.Status.Code;
import io.grpc.stub.MetadataUtils;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Provider callbacks on the real server and database: LiveKit webhooks about a room on a real
 * livekit-server, Twilio status callbacks about a room on the local fake Twilio (through the real
 * SDK). Signed here as each provider signs (LiveKit: HS256 JWT with the body's SHA-256; Twilio:
 * HMAC-SHA1 over URL and sorted parameters, checked against Twilio's own test vector below).
 */
class ProviderWebhookTest {
  static final String PUBLIC_BASE = "https://convene.example.org/edge";
  static final String AUTH_TOKEN = "twilio-auth-token-0123456789abcdef";
  static LiveKitServer livekit;

  FakeTwilio twilio;
  TestServer server;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  TokenServiceGrpc.TokenServiceBlockingStub tokens;
  ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs;
  Session s;

  @BeforeAll
  static void startLiveKit() throws Exception {
    livekit = LiveKitServer.start("livekit-server-webhook-test");
  }

  @AfterAll
  static void stopLiveKit() throws Exception {
    if (livekit != null) {
      livekit.close();
    }
  }

  @BeforeEach
  void setUp() throws Exception {
    twilio = new FakeTwilio();
    server = TestServer.withTwilioAt(twilio.url());
    var key = TestServer.bearer(server.tenantA.key());
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    tokens = TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    configs = ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
  }

  @AfterEach
  void tearDown() {
    server.close();
    twilio.close();
  }

  // ---------------------------------------------------------------- setup helpers

  void useLiveKit() {
    configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
        .setDefault(true).setLivekit(LiveKitConfig.newBuilder().setUrl(livekit.url())
            .setApiKey(LiveKitServer.API_KEY).setApiSecret(LiveKitServer.SECRET))).build());
    openRoom();
  }

  void useTwilio() {
    configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
        .setDefault(true).setStatusCallbackBaseUrl(PUBLIC_BASE).setTwilio(TwilioConfig.newBuilder()
            .setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY)
            .setApiKeySecret("twilio-key-secret-0123456789abcdef").setAuthToken(AUTH_TOKEN))).build());
    twilio.responder = hit -> new FakeTwilio.Answer(201, FakeTwilio.room(FakeTwilio.ROOM_SID, hit.form().get("UniqueName"), "in-progress"));
    openRoom();
  }

  /** A session (dr HOST, pat PARTICIPANT) whose provider room the host's join token opens. */
  void openRoom() {
    Instant start = server.clock.instant().plus(Duration.ofMinutes(5));
    s = sessions.createSession(Visits.request(start)
        .setSettings(SessionSettings.newBuilder().setJoinLead(com.google.protobuf.Duration.newBuilder().setSeconds(600)))
        .build()).getSession();
    tokens.issueJoinToken(IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
  }

  Session session() {
    return sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession();
  }

  Map<String, Boolean> presence() {
    Map<String, Boolean> present = new TreeMap<>();
    sessions.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId()).build())
        .getParticipantsList().forEach(p -> present.put(p.getUserId(), p.getPresent()));
    return present;
  }

  List<SessionEvent> events() {
    return sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList();
  }

  long storedCallbacks() {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM provider_events").mapTo(Long.class).one());
  }

  List<String> outcomes() {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT outcome FROM provider_events ORDER BY receive_time, event_id")
        .mapTo(String.class).list());
  }

  // ---------------------------------------------------------------- signing as the providers do

  /** A LiveKit webhook body as livekit-server sends it (protojson, lowerCamelCase). */
  static String liveKitEvent(String id, String event, String room, String identity, Instant at) {
    String participant = identity == null ? "" : ",\"participant\":{\"sid\":\"PA_x\",\"identity\":\"" + identity + "\"}";
    return "{\"event\":\"" + event + "\",\"room\":{\"sid\":\"RM_x\",\"name\":\"" + room + "\"}" + participant
        + ",\"id\":\"" + id + "\",\"createdAt\":\"" + at.getEpochSecond() + "\"}";
  }

  static String liveKitAuth(String body, String secret, Instant expires) throws Exception {
    return Signatures.liveKit(LiveKitServer.API_KEY, secret, body, expires);
  }

  static String twilioSignature(String authToken, String url, Map<String, String> params) throws Exception {
    return Signatures.twilio(authToken, url, params);
  }

  static String form(Map<String, String> params) {
    return Signatures.form(params);
  }

  Map<String, String> twilioParams(String event, String identity, Instant at) {
    Map<String, String> p = new TreeMap<>();
    p.put("AccountSid", FakeTwilio.ACCOUNT);
    p.put("RoomName", s.getId());
    p.put("RoomSid", FakeTwilio.ROOM_SID);
    p.put("RoomStatus", "in-progress");
    p.put("RoomType", "group");
    p.put("StatusCallbackEvent", event);
    p.put("Timestamp", at.toString());
    p.put("SequenceNumber", "1");
    if (identity != null) {
      p.put("ParticipantIdentity", identity);
      p.put("ParticipantSid", "PA" + "0".repeat(32));
      p.put("ParticipantStatus", event.equals("participant-connected") ? "connected" : "disconnected");
    }
    return p;
  }

  ReceiveProviderWebhookResponse deliver(String provider, String tenantId, String contentType, String body,
      Map<String, String> headers) {
    Metadata md = new Metadata();
    headers.forEach((k, v) -> md.put(Metadata.Key.of(k, Metadata.ASCII_STRING_MARSHALLER), v));
    return ProviderWebhookServiceGrpc.newBlockingStub(server.channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md))
        .receiveProviderWebhook(ReceiveProviderWebhookRequest.newBuilder().setProvider(provider).setTenantId(tenantId)
            .setBody(HttpBody.newBuilder().setContentType(contentType).setData(ByteString.copyFromUtf8(body))).build());
  }

  ReceiveProviderWebhookResponse liveKit(String id, String event, String identity, Instant at) throws Exception {
    String body = liveKitEvent(id, event, s.getId(), identity, at);
    return deliver("livekit", server.tenantA.tenantId(), "application/webhook+json", body,
        Map.of("authorization", liveKitAuth(body, LiveKitServer.SECRET, Instant.now().plusSeconds(300))));
  }

  ReceiveProviderWebhookResponse twilio(Map<String, String> params, String signedUrl, String token) throws Exception {
    return deliver("twilio", server.tenantA.tenantId(), "application/x-www-form-urlencoded", form(params),
        Map.of("x-twilio-signature", twilioSignature(token, signedUrl, params)));
  }

  String twilioUrl() {
    return PUBLIC_BASE + "/webhooks/twilio/" + server.tenantA.tenantId();
  }

  // ---------------------------------------------------------------- tests

  @Test
  void twilioSigner_matchesTwiliosOwnTestVector() throws Exception {
    Map<String, String> params = Map.of("CallSid", "CA1234567890ABCDE", "Caller", "+12349013030", "Digits", "1234",
        "From", "+12349013030", "To", "+18005551212");
    assertEquals("0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params));
  }

  @Test
  void liveKitJoins_moveTheSession_andARepeatIsADuplicate() throws Exception {
    useLiveKit();
    Instant t = server.clock.instant();
    ReceiveProviderWebhookResponse first = liveKit("EV_dr1", "participant_joined", "dr", t);
    assertTrue(first.getApplied());
    assertFalse(first.getDuplicate());
    assertEquals(SessionStatus.SESSION_STATUS_WAITING, session().getStatus());
    int eventsAfterFirst = events().size();

    ReceiveProviderWebhookResponse again = liveKit("EV_dr1", "participant_joined", "dr", t);
    assertTrue(again.getDuplicate());
    assertFalse(again.getApplied());
    assertEquals(eventsAfterFirst, events().size());

    assertTrue(liveKit("EV_pat1", "participant_joined", "pat", t).getApplied());
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, session().getStatus());
    assertEquals(Map.of("dr", true, "pat", true), presence());
    SessionEvent joined = events().stream()
        .filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED).findFirst().orElseThrow();
    assertEquals("provider_webhook", joined.getPayload().getFieldsOrThrow("source").getStringValue());
    assertEquals(List.of("APPLIED", "APPLIED"), outcomes());
    // A track event is stored, not applied.
    ReceiveProviderWebhookResponse track = liveKit("EV_tr", "track_published", "pat", t);
    assertFalse(track.getApplied());
    assertEquals(3, storedCallbacks());
  }

  @Test
  void aLateConnectedAfterADisconnected_doesNotBringPresenceBack() throws Exception {
    useLiveKit();
    Instant t = server.clock.instant();
    liveKit("EV_j1", "participant_joined", "pat", t);
    liveKit("EV_l1", "participant_left", "pat", t.plusSeconds(10));
    ReceiveProviderWebhookResponse late = liveKit("EV_j0", "participant_joined", "pat", t.plusSeconds(5));
    assertFalse(late.getApplied());
    assertEquals(false, presence().get("pat"));
    assertEquals("STALE", server.jdbi().withHandle(h -> h.createQuery(
        "SELECT outcome FROM provider_events WHERE event_id = 'EV_j0'").mapTo(String.class).one()));
    // An unknown identity and another session's room are stored and ignored.
    assertFalse(liveKit("EV_who", "participant_joined", "stranger", t).getApplied());
  }

  @Test
  void forgedUnsignedTamperedExpiredOrMisaddressedCallbacks_areRefused_andNothingIsWritten() throws Exception {
    useLiveKit();
    int eventsBefore = events().size();
    String tenant = server.tenantA.tenantId();
    Instant t = server.clock.instant();
    String body = liveKitEvent("EV_f", "participant_joined", s.getId(), "pat", t);
    Instant valid = Instant.now().plusSeconds(300);

    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID",
        () -> deliver("livekit", tenant, "application/webhook+json", body, Map.of()));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID", () -> deliver("livekit", tenant,
        "application/webhook+json", body,
        Map.of("authorization", liveKitAuth(body, "a-forger-s-secret-0123456789-abcdefghij", valid))));
    String tampered = body.replace("\"pat\"", "\"dr\"");
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID", () -> deliver("livekit", tenant,
        "application/webhook+json", tampered, Map.of("authorization", liveKitAuth(body, LiveKitServer.SECRET, valid))));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_EXPIRED", () -> deliver("livekit", tenant, "application/webhook+json",
        body, Map.of("authorization", liveKitAuth(body, LiveKitServer.SECRET, Instant.now().minusSeconds(5)))));
    // A replay of an old event under a fresh signature: refused by its own date.
    String old = liveKitEvent("EV_old", "participant_joined", s.getId(), "pat", t.minus(Duration.ofHours(2)));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_EXPIRED", () -> deliver("livekit", tenant, "application/webhook+json",
        old, Map.of("authorization", liveKitAuth(old, LiveKitServer.SECRET, valid))));
    // A tenant that does not exist, or has no such provider, answers as a bad signature does.
    Map<String, String> signed = Map.of("authorization", liveKitAuth(body, LiveKitServer.SECRET, valid));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID",
        () -> deliver("livekit", "ten_NoSuchTenant", "application/webhook+json", body, signed));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID",
        () -> deliver("livekit", server.tenantB.tenantId(), "application/webhook+json", body, signed));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID",
        () -> deliver("twilio", tenant, "application/x-www-form-urlencoded", "a=b", Map.of("x-twilio-signature", "x")));
    // Bad input names the field.
    var badProvider = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> deliver("jitsi", tenant, "application/json", body, signed));
    assertEquals(List.of("provider"), GrpcAssertions.badFields(badProvider));
    var badTenant = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> deliver("livekit", "tenant-a", "application/json", body, signed));
    assertEquals(List.of("tenant_id"), GrpcAssertions.badFields(badTenant));
    var tooLong = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> deliver("livekit", tenant, "application/json", "x".repeat(70_000), signed));
    assertEquals(List.of("body.data"), GrpcAssertions.badFields(tooLong));

    assertEquals(0, storedCallbacks());
    assertEquals(eventsBefore, events().size());
    assertEquals(Map.of("dr", false, "pat", false), presence());
  }

  @Test
  void roomFinished_completesASessionInProgress_withoutAskingTheProviderToEndIt() throws Exception {
    useLiveKit();
    Instant t = server.clock.instant();
    liveKit("EV_a", "participant_joined", "dr", t);
    liveKit("EV_b", "participant_joined", "pat", t);
    server.clock.advance(Duration.ofMinutes(3));
    Instant end = server.clock.instant();
    assertTrue(liveKit("EV_end", "room_finished", null, end).getApplied());

    Session done = session();
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, done.getStatus());
    assertEquals(0, done.getPresentCount());
    assertEquals(end, ProtoTime.instant(done.getEndTime()));
    assertEquals(0L, (long) server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM jobs WHERE kind = 'provider.end_room'").mapTo(Long.class).one()));
    assertEquals("ENDED", server.jdbi().withHandle(h -> h.createQuery(
        "SELECT room_state FROM sessions WHERE id = :id").bind("id", s.getId()).mapTo(String.class).one()));
    // Callbacks about an ended session are stored and change nothing.
    assertFalse(liveKit("EV_late", "participant_left", "pat", end).getApplied());
  }

  @Test
  void reconciliation_leavesWhomTheRealLiveKitDoesNotList() throws Exception {
    useLiveKit();
    liveKit("EV_dr", "participant_joined", "dr", server.clock.instant());
    assertEquals(true, presence().get("dr"));

    server.clock.advance(Duration.ofSeconds(30));
    server.jobs().runOnce();

    assertEquals(false, presence().get("dr"), "nobody is in the real LiveKit room");
    SessionEvent left = events().stream()
        .filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT).findFirst().orElseThrow();
    assertEquals("reconciliation", left.getPayload().getFieldsOrThrow("source").getStringValue());
    assertTrue(left.getPayload().getFieldsOrThrow("corrective").getBoolValue());
    // It keeps watching the live room.
    assertEquals(1L, (long) server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM jobs WHERE kind = 'provider.reconcile' AND subject_id = :id").bind("id", s.getId())
        .mapTo(Long.class).one()));
  }

  @Test
  void twilioCallbacks_verifyAgainstThePublicUrl_andApply() throws Exception {
    useTwilio();
    Instant t = server.clock.instant();
    Map<String, String> drJoins = twilioParams("participant-connected", "dr", t);

    // Signed for the internal address instead of the public one: refused.
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID", () -> twilio(drJoins,
        "http://127.0.0.1:9090/webhooks/twilio/" + server.tenantA.tenantId(), AUTH_TOKEN));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID", () -> twilio(drJoins, twilioUrl(),
        "another-auth-token-0123456789abcdef"));
    Map<String, String> otherAccount = new TreeMap<>(drJoins);
    otherAccount.put("AccountSid", "AC" + "f".repeat(32));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_SIGNATURE_INVALID", () -> twilio(otherAccount, twilioUrl(), AUTH_TOKEN));
    assertStatus(Code.UNAUTHENTICATED, "WEBHOOK_EXPIRED", () -> twilio(
        twilioParams("participant-connected", "dr", t.minus(Duration.ofHours(2))), twilioUrl(), AUTH_TOKEN));
    assertEquals(0, storedCallbacks());

    assertTrue(twilio(drJoins, twilioUrl(), AUTH_TOKEN).getApplied());
    assertTrue(twilio(drJoins, twilioUrl(), AUTH_TOKEN).getDuplicate(), "the same signed parameters again");
    assertTrue(twilio(twilioParams("participant-connected", "pat", t), twilioUrl(), AUTH_TOKEN).getApplied());
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, session().getStatus());
    assertTrue(twilio(twilioParams("participant-disconnected", "pat", t.plusSeconds(60)), twilioUrl(), AUTH_TOKEN)
        .getApplied());
    assertEquals(Map.of("dr", true, "pat", false), presence());
    assertTrue(twilio(twilioParams("room-ended", null, t.plusSeconds(90)), twilioUrl(), AUTH_TOKEN).getApplied());
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, session().getStatus());
  }

  @Test
  void reconciliation_followsTwiliosParticipantList_bothWays() throws Exception {
    useTwilio();
    twilio.responder = hit -> new FakeTwilio.Answer(200, FakeTwilio.connectedParticipants(s.getId(), "dr", "pat"));
    server.clock.advance(Duration.ofSeconds(30));
    server.jobs().runOnce();

    assertEquals(Map.of("dr", true, "pat", true), presence(), "both are in Twilio's room though no callback came");
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, session().getStatus());
    assertTrue(twilio.hits.stream().anyMatch(h -> h.method().equals("GET")
        && h.path().equals("/v1/Rooms/" + s.getId() + "/Participants")));

    twilio.responder = hit -> new FakeTwilio.Answer(200, FakeTwilio.connectedParticipants(s.getId(), "dr"));
    server.clock.advance(Duration.ofSeconds(61));
    server.jobs().runOnce();
    assertEquals(Map.of("dr", true, "pat", false), presence());
    long corrective = events().stream().filter(e -> e.getPayload().getFieldsMap().containsKey("corrective")).count();
    assertEquals(3, corrective, "two corrective joins and one corrective leave");
  }

  @Test
  void concurrentDeliveriesOfOneEvent_applyItOnce_inEveryTrial() throws Exception {
    useLiveKit();
    Instant t = server.clock.instant();
    int trials = 200;
    int copies = 4;
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(copies);
    int lost = 0;
    int doubled = 0;
    try {
      for (int i = 0; i < trials; i++) {
        // pat connects and disconnects in turn; each event is delivered by four racing retries.
        String event = i % 2 == 0 ? "participant_joined" : "participant_left";
        String body = liveKitEvent("EV_race" + i, event, s.getId(), "pat", t.plusSeconds(i));
        String auth = liveKitAuth(body, LiveKitServer.SECRET, Instant.now().plusSeconds(300));
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        List<java.util.concurrent.Future<ReceiveProviderWebhookResponse>> sent = new java.util.ArrayList<>();
        for (int c = 0; c < copies; c++) {
          sent.add(pool.submit(() -> {
            go.await();
            return deliver("livekit", server.tenantA.tenantId(), "application/webhook+json", body,
                Map.of("authorization", auth));
          }));
        }
        go.countDown();
        int applied = 0;
        for (var f : sent) {
          applied += f.get().getApplied() ? 1 : 0;
        }
        lost += applied == 0 ? 1 : 0;
        doubled += applied > 1 ? 1 : 0;
        assertEquals(i % 2 == 0, presence().get("pat"), "after trial " + i);
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(0, lost, "trials where no copy was applied");
    assertEquals(0, doubled, "trials applied more than once");
    long moves = server.jdbi().withHandle(h -> h.createQuery("""
            SELECT count(*) FROM events
            WHERE aggregate_id = :id AND type IN ('PARTICIPANT_JOINED', 'PARTICIPANT_LEFT')
            """).bind("id", s.getId()).mapTo(Long.class).one());
    assertEquals(trials, moves);
    assertEquals(trials, storedCallbacks());
  }
}
