package dev.convene.server.token;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.errorInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.RetryInfo;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.jsonwebtoken.Claims;
import io.jsonwebtoken.Jwts;
import io.jsonwebtoken.security.Keys;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * TokenService end to end on the real server and database, with the Jitsi provider (tokens only, no
 * network): the join window, roster, ban, provider and session checks with their reasons; the
 * audit event; room creation and ending; access codes, their states and their throttle; guest
 * credentials acting only for themselves.
 */
class TokenServiceTest {
  static final String SECRET = "jitsi-app-secret-0123456789-abcdefghij";

  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  TokenServiceGrpc.TokenServiceBlockingStub tokens;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  @BeforeEach
  void setUp() {
    server = servers.get();
    tokens = TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
            .setJitsi(JitsiConfig.newBuilder().setDomain("meet.example.org").setAppId("convene").setAppSecret(SECRET))
            .setDefault(true)).build());
  }

  /** A visit one hour after the clock's time: dr hosts, pat attends, obs observes. */
  Session visit(String ref) {
    Instant start = server.clock.instant().plus(Duration.ofHours(1));
    return sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef(ref)
        .setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setDisplayName("Dr. Who")
            .setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("pat").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("obs").setRole(ParticipantRole.PARTICIPANT_ROLE_OBSERVER))
        .build()).getSession();
  }

  IssueJoinTokenRequest ask(Session s, String user) {
    return IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build();
  }

  Claims verify(String jwt) {
    return Jwts.parser().verifyWith(Keys.hmacShaKeyFor(SECRET.getBytes(StandardCharsets.UTF_8)))
        .clock(() -> java.util.Date.from(server.clock.instant())).build().parseSignedClaims(jwt).getPayload();
  }

  @Test
  void issueJoinToken_beforeTheJoinWindow_isRefusedWithItsOpeningTime_thenIssuedWithTheRoleRights() {
    Session s = visit("w-1");
    StatusRuntimeException early = assertStatus(Code.FAILED_PRECONDITION, "JOIN_WINDOW_NOT_OPEN",
        () -> tokens.issueJoinToken(ask(s, "dr")));
    Instant opens = ProtoTime.instant(s.getScheduledStartTime()).minus(Duration.ofMinutes(10));
    assertEquals(opens.toString(), errorInfo(early).getMetadataOrThrow("join_window_open_time"));

    server.clock.set(opens);
    JoinToken host = tokens.issueJoinToken(ask(s, "dr")).getJoinToken();
    assertEquals(ProviderKind.PROVIDER_KIND_JITSI, host.getProvider());
    assertEquals(ParticipantRole.PARTICIPANT_ROLE_HOST, host.getRole());
    assertEquals("dr", host.getIdentity());
    assertTrue(host.getTokenId().startsWith("tok_"));
    Claims c = verify(host.getToken());
    assertEquals("convene", c.getIssuer());
    assertEquals(host.getRoomName(), c.get("room", String.class));
    @SuppressWarnings("unchecked")
    Map<String, Object> user = (Map<String, Object>) ((Map<String, Object>) c.get("context")).get("user");
    assertEquals(true, user.get("moderator"));
    // Until the scheduled end plus 30 minutes.
    Instant expire = ProtoTime.instant(s.getScheduledEndTime()).plus(Duration.ofMinutes(30));
    assertEquals(expire, ProtoTime.instant(host.getExpireTime()));
    assertEquals(expire, c.getExpiration().toInstant());
    assertTrue(host.getConnectUrl().startsWith("https://meet.example.org/"));

    JoinToken observer = tokens.issueJoinToken(ask(s, "obs")).getJoinToken();
    @SuppressWarnings("unchecked")
    Map<String, Object> obsUser = (Map<String, Object>) ((Map<String, Object>) verify(observer.getToken()).get("context")).get("user");
    assertEquals(false, obsUser.get("moderator"));

    // The session records its provider and room, and the log audits each token (never the token).
    Session after = sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession();
    assertEquals(ProviderKind.PROVIDER_KIND_JITSI, after.getProvider());
    assertEquals(host.getRoomName(), after.getProviderRoom());
    List<SessionEvent> events = sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId())
        .build()).getEventsList();
    List<SessionEvent> issued = events.stream()
        .filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_TOKEN_ISSUED).toList();
    assertEquals(2, issued.size());
    assertEquals(host.getTokenId(), issued.get(0).getPayload().getFieldsOrThrow("token_id").getStringValue());
    assertEquals(1, events.stream().filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PROVIDER_ROOM_CREATED).count());
    assertFalse(events.toString().contains(host.getToken()));
  }

  @Test
  void issueJoinToken_refusals_carryTheirReasons() {
    Session s = visit("r-1");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> tokens.issueJoinToken(ask(s, "stranger")));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> tokens.issueJoinToken(
        IssueJoinTokenRequest.newBuilder().setSessionId("ses_missing").setUserId("dr").build()));
    server.jdbi().useHandle(h -> h.execute("UPDATE participants SET banned = true WHERE session_id = ? AND user_id = 'pat'", s.getId()));
    assertStatus(Code.PERMISSION_DENIED, "PARTICIPANT_BANNED", () -> tokens.issueJoinToken(ask(s, "pat")));
    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("rescheduled").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> tokens.issueJoinToken(ask(s, "dr")));

    // Tenant B configured no provider.
    SessionServiceGrpc.SessionServiceBlockingStub b = SessionServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantB.key()));
    Session other = b.createSession(CreateSessionRequest.newBuilder().setExternalRef("b-1").setMedia(MediaType.MEDIA_TYPE_AUDIO)
        .setScheduledStartTime(s.getScheduledStartTime()).setScheduledEndTime(s.getScheduledEndTime())
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST)).build())
        .getSession();
    assertStatus(Code.FAILED_PRECONDITION, "PROVIDER_NOT_CONFIGURED", () -> TokenServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantB.key())).issueJoinToken(ask(other, "dr")));
    // ... and tenant A cannot reach tenant B's session at all.
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> tokens.issueJoinToken(ask(other, "dr")));
  }

  @Test
  void cancellingASession_endsItsProviderRoom_throughAJob() {
    Session s = visit("e-1");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    tokens.issueJoinToken(ask(s, "dr"));
    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("moved").build());
    assertEquals("ENDING", roomState(s));
    server.jobs().runOnce();
    assertEquals("ENDED", roomState(s));
    assertEquals(1, sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList().stream().filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PROVIDER_ROOM_ENDED).count());
  }

  String roomState(Session s) {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT room_state FROM sessions WHERE id = :id")
        .bind("id", s.getId()).mapTo(String.class).one());
  }

  TokenServiceGrpc.TokenServiceBlockingStub anonymous() {
    return TokenServiceGrpc.newBlockingStub(server.channel);
  }

  RedeemAccessCodeRequest redeem(Session s, String code) {
    return RedeemAccessCodeRequest.newBuilder().setSessionId(s.getId()).setCode(code).build();
  }

  @Test
  void accessCode_redeemedWithoutCredential_givesAGuestCredentialThatActsOnlyForItsUserAndSession() {
    Session s = visit("a-1");
    Session other = visit("a-2");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    CreateAccessCodeResponse made = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("pat").build());
    assertTrue(made.getCode().matches("[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}"), made.getCode());
    assertEquals(1, made.getAccessCode().getMaxUses());
    // Only a keyed hash is stored.
    byte[] stored = server.jdbi().withHandle(h -> h.createQuery("SELECT code_hash FROM access_codes WHERE id = :id")
        .bind("id", made.getAccessCode().getId()).mapTo(byte[].class).one());
    assertFalse(new String(stored, StandardCharsets.ISO_8859_1).contains(made.getCode().replace("-", "")));

    // Typed in lower case with a space instead of the dash: still the code.
    RedeemAccessCodeResponse r = anonymous().redeemAccessCode(redeem(s, made.getCode().toLowerCase().replace('-', ' ')));
    assertEquals("pat", r.getJoinToken().getIdentity());
    assertEquals(r.getJoinToken().getExpireTime(), r.getGuestCredential().getExpireTime());
    var asGuest = TokenServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(r.getGuestCredential().getCredential()));
    assertEquals("pat", asGuest.issueJoinToken(ask(s, "pat")).getJoinToken().getIdentity());
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> asGuest.issueJoinToken(ask(s, "dr")));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> asGuest.issueJoinToken(ask(other, "pat")));
    var guestSessions = SessionServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(r.getGuestCredential().getCredential()));
    assertEquals(s.getId(), guestSessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build())
        .getSession().getId());
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> guestSessions.getSession(GetSessionRequest.newBuilder().setSessionId(other.getId()).build()));
    assertStatus(Code.PERMISSION_DENIED, "CALLER_NOT_ALLOWED",
        () -> guestSessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("x").build()));

    // Single use: the second redemption is refused, and says why.
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_USED_UP", () -> anonymous().redeemAccessCode(redeem(s, made.getCode())));
    assertEquals(1, tokens.listAccessCodes(ListAccessCodesRequest.newBuilder().setSessionId(s.getId()).build())
        .getAccessCodes(0).getUseCount());
  }

  @Test
  void accessCode_revokedOrExpired_saysSo_andAnUnknownCodeIsNotFound() {
    Session s = visit("a-3");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    CreateAccessCodeResponse revoked = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("pat").setMaxUses(5).build());
    tokens.revokeAccessCode(RevokeAccessCodeRequest.newBuilder().setSessionId(s.getId())
        .setAccessCodeId(revoked.getAccessCode().getId()).build());
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_REVOKED", () -> anonymous().redeemAccessCode(redeem(s, revoked.getCode())));

    CreateAccessCodeResponse expiring = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("pat")
        .setExpireTime(ProtoTime.timestamp(server.clock.instant().plus(Duration.ofMinutes(1)))).build());
    server.clock.advance(Duration.ofMinutes(2));
    assertStatus(Code.FAILED_PRECONDITION, "ACCESS_CODE_EXPIRED", () -> anonymous().redeemAccessCode(redeem(s, expiring.getCode())));
    assertStatus(Code.NOT_FOUND, "ACCESS_CODE_NOT_FOUND", () -> anonymous().redeemAccessCode(redeem(s, "ZZZZ-ZZZZ")));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> tokens.createAccessCode(CreateAccessCodeRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("pat").setExpireTime(ProtoTime.timestamp(server.clock.instant().minusSeconds(1))).build()));
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> tokens.createAccessCode(CreateAccessCodeRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("stranger").build()));
  }

  @Test
  void guessingAccessCodes_isCutOffAfterTenFailures_evenForTheRightCode() {
    Session s = visit("g-1");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    String good = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder().setSessionId(s.getId())
        .setUserId("pat").build()).getCode();
    int notFound = 0;
    for (int i = 0; i < 10; i++) {
      String guess = String.format("WRNG-%04d", i).replace('0', 'A').replace('1', 'B');
      try {
        anonymous().redeemAccessCode(redeem(s, guess));
      } catch (StatusRuntimeException e) {
        if (errorInfo(e).getReason().equals("ACCESS_CODE_NOT_FOUND")) {
          notFound++;
        }
      }
    }
    assertEquals(10, notFound);
    StatusRuntimeException cut = assertStatus(Code.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS",
        () -> anonymous().redeemAccessCode(redeem(s, good)));
    RetryInfo retry = retryInfo(cut);
    assertTrue(retry.getRetryDelay().getSeconds() > 0 && retry.getRetryDelay().getSeconds() <= 15 * 60, retry.toString());
    // Once the window has passed, the right code works.
    server.clock.advance(Duration.ofMinutes(16));
    assertEquals("pat", anonymous().redeemAccessCode(redeem(s, good)).getJoinToken().getIdentity());
  }

  static RetryInfo retryInfo(StatusRuntimeException e) {
    try {
      for (Any a : StatusProto.fromThrowable(e).getDetailsList()) {
        if (a.is(RetryInfo.class)) {
          return a.unpack(RetryInfo.class);
        }
      }
    } catch (com.google.protobuf.InvalidProtocolBufferException ex) {
      throw new AssertionError(ex);
    }
    throw new AssertionError("no RetryInfo in " + e.getStatus());
  }

  @Test
  void providerSecrets_areEncryptedAtRest_andNeverReturned() {
    ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs = ProviderConfigServiceGrpc
        .newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    ProviderConfig got = configs.getProviderConfig(GetProviderConfigRequest.newBuilder()
        .setProvider(ProviderKind.PROVIDER_KIND_JITSI).build()).getConfig();
    assertEquals("", got.getJitsi().getAppSecret());
    assertEquals(List.of("app_secret"), got.getStoredSecretsList());
    assertTrue(got.getDefault());
    Map<String, Object> row = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT settings::text AS settings, secrets FROM provider_configs WHERE tenant_id = :t").bind("t", server.tenantA.tenantId())
        .mapToMap().one());
    assertFalse(((String) row.get("settings")).contains(SECRET));
    assertFalse(new String((byte[]) row.get("secrets"), StandardCharsets.ISO_8859_1).contains(SECRET));
    // Setting it again without the secret keeps the stored one; a first config without one is refused.
    configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
        .setJitsi(JitsiConfig.newBuilder().setDomain("meet2.example.org").setAppId("convene"))).build());
    Session s = visit("k-1");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    verify(tokens.issueJoinToken(ask(s, "dr")).getJoinToken().getToken());
    StatusRuntimeException missing = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
            .setLivekit(LiveKitConfig.newBuilder().setUrl("http://127.0.0.1:7880").setApiKey("devkey"))).build()));
    assertEquals(List.of("config.livekit.api_secret"), dev.convene.server.testing.GrpcAssertions.badFields(missing));
    assertNotEquals(0, configs.listProviderConfigs(ListProviderConfigsRequest.getDefaultInstance()).getConfigsCount());
  }

  @Test
  void checkProviderCredentials_storesTheResult_thatGetProviderConfigShows() {
    ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs = ProviderConfigServiceGrpc
        .newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    CheckProviderCredentialsResponse r = configs.checkProviderCredentials(CheckProviderCredentialsRequest.newBuilder()
        .setProvider(ProviderKind.PROVIDER_KIND_JITSI).build());
    assertTrue(r.getCheck().getValid(), r.toString());
    ProviderConfig got = configs.getProviderConfig(GetProviderConfigRequest.newBuilder()
        .setProvider(ProviderKind.PROVIDER_KIND_JITSI).build()).getConfig();
    assertEquals(r.getCheck(), got.getLastCheck());
    assertStatus(Code.NOT_FOUND, "PROVIDER_NOT_CONFIGURED", () -> configs.checkProviderCredentials(
        CheckProviderCredentialsRequest.newBuilder().setProvider(ProviderKind.PROVIDER_KIND_TWILIO).build()));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> configs.setProviderConfig(SetProviderConfigRequest
        .newBuilder().setConfig(ProviderConfig.newBuilder().setProvider(ProviderKind.PROVIDER_KIND_TWILIO)
            .setJitsi(JitsiConfig.newBuilder().setDomain("meet.example.org").setAppId("convene"))).build()));
  }

  @Test
  void aProviderThatFails_isUnavailableOrRejected_andTheRoomStaysRecordedAsBeingCreated() throws Exception {
    ProviderConfigServiceGrpc.ProviderConfigServiceBlockingStub configs = ProviderConfigServiceGrpc
        .newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
    int closed;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder().setDefault(true)
        .setLivekit(LiveKitConfig.newBuilder().setUrl("http://127.0.0.1:" + closed).setApiKey("devkey")
            .setApiSecret("livekit-secret-0123456789-0123456789-abc"))).build());
    Session s = visit("p-1");
    server.clock.set(ProtoTime.instant(s.getScheduledStartTime()));
    assertStatus(Code.UNAVAILABLE, "PROVIDER_UNAVAILABLE", () -> tokens.issueJoinToken(ask(s, "dr")));
    // Persist first: the session's provider is fixed and the room is known to be on its way.
    assertEquals("CREATING", roomState(s));
    assertEquals(ProviderKind.PROVIDER_KIND_LIVEKIT, sessions.getSession(GetSessionRequest.newBuilder()
        .setSessionId(s.getId()).build()).getSession().getProvider());

    // A LiveKit that does not know the key refuses: FAILED_PRECONDITION, not a retryable error.
    com.sun.net.httpserver.HttpServer refusing = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    refusing.createContext("/", ex -> {
      byte[] body = "{\"code\":\"unauthenticated\",\"msg\":\"permissions denied\"}".getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(401, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    refusing.start();
    try {
      configs.setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
          .setLivekit(LiveKitConfig.newBuilder().setUrl("http://127.0.0.1:" + refusing.getAddress().getPort())
              .setApiKey("devkey"))).build());
      assertStatus(Code.FAILED_PRECONDITION, "PROVIDER_REJECTED", () -> tokens.issueJoinToken(ask(s, "dr")));
      assertEquals("CREATING", roomState(s));
    } finally {
      refusing.stop(0);
    }
  }

  @Test
  void aSecondConnection_isRefusedOnlyWhereTheSessionSaysRejectNew() {
    Instant start = server.clock.instant();
    Session strict = sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef("dup-1")
        .setMedia(MediaType.MEDIA_TYPE_AUDIO).setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .setSettings(SessionSettings.newBuilder()
            .setDuplicateIdentity(DuplicateIdentityPolicy.DUPLICATE_IDENTITY_POLICY_REJECT_NEW))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .build()).getSession();
    assertEquals(DuplicateIdentityPolicy.DUPLICATE_IDENTITY_POLICY_REJECT_NEW, strict.getSettings().getDuplicateIdentity());
    Session lenient = visit("dup-2");
    server.clock.set(ProtoTime.instant(lenient.getScheduledStartTime()));
    assertEquals(DuplicateIdentityPolicy.DUPLICATE_IDENTITY_POLICY_REPLACE_EXISTING,
        lenient.getSettings().getDuplicateIdentity());
    for (Session s : List.of(strict, lenient)) {
      tokens.issueJoinToken(ask(s, "dr"));
      sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
    }
    assertStatus(Code.FAILED_PRECONDITION, "ALREADY_CONNECTED", () -> tokens.issueJoinToken(ask(strict, "dr")));
    assertEquals("dr", tokens.issueJoinToken(ask(lenient, "dr")).getJoinToken().getIdentity());
    // Once the participant has left, the strict session issues again.
    sessions.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(strict.getId()).setUserId("dr").build());
    assertEquals("dr", tokens.issueJoinToken(ask(strict, "dr")).getJoinToken().getIdentity());
  }
}
