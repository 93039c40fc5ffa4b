package dev.convene.server.call;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kick and ban on the real server and database: the participant leaves, the ban holds for tokens
 * and access codes until lifted, only hosts (or the tenant) may do it, and the provider's room is
 * told through an outbox job that retries when the provider does not answer.
 */
class CallServiceTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  CallServiceGrpc.CallServiceBlockingStub calls;
  TokenServiceGrpc.TokenServiceBlockingStub tokens;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  Session s;

  @BeforeEach
  void setUp() {
    server = servers.get();
    var key = TestServer.bearer(server.tenantA.key());
    calls = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    tokens = TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    Visits.useJitsi(ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key));
    Instant start = server.clock.instant().plus(Duration.ofMinutes(5));
    s = Visits.create(sessions, start);
  }

  KickParticipantRequest kick(String user, boolean ban) {
    return KickParticipantRequest.newBuilder().setSessionId(s.getId()).setUserId(user).setBan(ban).setReason("disruptive").build();
  }

  IssueJoinTokenRequest ask(String user) {
    return IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build();
  }

  List<SessionEventType> events() {
    return sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList().stream().map(SessionEvent::getType).toList();
  }

  @Test
  void kickWithBan_makesThePatientLeave_andRefusesTokensAndCodesUntilUnbanned() {
    tokens.issueJoinToken(ask("dr"));
    sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    String code = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder().setSessionId(s.getId())
        .setUserId("pat").setMaxUses(2).build()).getCode();

    KickParticipantResponse r = calls.kickParticipant(kick("pat", true));
    assertFalse(r.getParticipant().getPresent());
    assertTrue(r.getParticipant().getBanned());
    assertTrue(r.getRemovedFromRoom(), "Jitsi has no room API, so there is nothing to wait for");
    assertEquals(0, sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build())
        .getSession().getPresentCount());
    assertTrue(events().containsAll(List.of(SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_KICKED)));
    assertEquals(0, jobs());

    assertStatus(Code.PERMISSION_DENIED, "PARTICIPANT_BANNED", () -> tokens.issueJoinToken(ask("pat")));
    var anonymous = TokenServiceGrpc.newBlockingStub(server.channel);
    RedeemAccessCodeRequest redeem = RedeemAccessCodeRequest.newBuilder().setSessionId(s.getId()).setCode(code).build();
    assertStatus(Code.PERMISSION_DENIED, "PARTICIPANT_BANNED", () -> anonymous.redeemAccessCode(redeem));
    // The refused redemption did not use the code up.
    assertEquals(0, tokens.listAccessCodes(ListAccessCodesRequest.newBuilder().setSessionId(s.getId()).build())
        .getAccessCodes(0).getUseCount());

    assertFalse(calls.unbanParticipant(UnbanParticipantRequest.newBuilder().setSessionId(s.getId()).setUserId("pat")
        .build()).getParticipant().getBanned());
    assertEquals("pat", anonymous.redeemAccessCode(redeem).getJoinToken().getIdentity());
    assertTrue(events().contains(SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_UNBANNED));
  }

  @Test
  void onlyAHostOrTheTenant_mayKick() {
    var issuer = new CredentialFeature(server.platform).issuer();
    var asDr = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        issuer.user(server.tenantA.tenantId(), "dr", Duration.ofHours(1)).getCredential()));
    var asPat = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        issuer.user(server.tenantA.tenantId(), "pat", Duration.ofHours(1)).getCredential()));
    var asStranger = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        issuer.user(server.tenantA.tenantId(), "stranger", Duration.ofHours(1)).getCredential()));
    assertStatus(Code.PERMISSION_DENIED, "HOST_REQUIRED", () -> asPat.kickParticipant(kick("dr", true)));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> asStranger.kickParticipant(kick("pat", false)));
    assertFalse(asDr.kickParticipant(kick("pat", false)).getParticipant().getBanned());
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> calls.kickParticipant(kick("nobody", false)));
    // Another tenant's backend cannot reach the session.
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> CallServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantB.key())).kickParticipant(kick("pat", true)));
    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("moved").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> calls.kickParticipant(kick("pat", true)));
  }

  @Test
  void aProviderThatDoesNotAnswer_leavesTheRemovalToARetriedJob() throws Exception {
    int closed;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closed = socket.getLocalPort();
    }
    ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(ProviderConfig.newBuilder()
            .setLivekit(LiveKitConfig.newBuilder().setUrl("http://127.0.0.1:" + closed).setApiKey("devkey")
                .setApiSecret("livekit-secret-0123456789-0123456789-abc"))).build());
    // As if the room had been created on that LiveKit earlier.
    server.jdbi().useHandle(h -> h.execute("UPDATE sessions SET provider = 'PROVIDER_KIND_LIVEKIT', provider_room = id, "
        + "room_state = 'ACTIVE' WHERE id = ?", s.getId()));
    KickParticipantResponse r = calls.kickParticipant(kick("pat", true));
    assertFalse(r.getRemovedFromRoom());
    assertTrue(r.getParticipant().getBanned(), "the removal is recorded whatever the provider says");
    assertEquals(1, jobs());
    server.clock.advance(Duration.ofMinutes(1));
    server.jobs().runOnce();
    Map<String, Object> job = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT attempts, last_error FROM jobs WHERE kind = 'provider.remove_participant'").mapToMap().one());
    assertEquals(1, ((Number) job.get("attempts")).intValue());
    assertTrue(String.valueOf(job.get("last_error")).contains("dropping the participant from the room on PROVIDER_KIND_LIVEKIT failed"), String.valueOf(job));
  }

  long jobs() {
    return server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM jobs WHERE kind = 'provider.remove_participant'").mapTo(Long.class).one());
  }

  @Test
  void aLobby_holdsParticipantsAndGuestsUntilAHostAdmitsThem_andRecordsTheWait() {
    Instant start = server.clock.instant();
    Session lobby = sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef("lobby-1")
        .setMedia(MediaType.MEDIA_TYPE_VIDEO).setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .setSettings(SessionSettings.newBuilder().setLobbyEnabled(true))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("pat").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("guest").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .build()).getSession();
    IssueJoinTokenRequest pat = IssueJoinTokenRequest.newBuilder().setSessionId(lobby.getId()).setUserId("pat").build();
    // The host needs no admission.
    assertEquals("dr", tokens.issueJoinToken(IssueJoinTokenRequest.newBuilder().setSessionId(lobby.getId())
        .setUserId("dr").build()).getJoinToken().getIdentity());
    assertStatus(Code.FAILED_PRECONDITION, "AWAITING_ADMISSION", () -> tokens.issueJoinToken(pat));
    // A guest redeeming a code gets its credential, but no token yet.
    String code = tokens.createAccessCode(CreateAccessCodeRequest.newBuilder().setSessionId(lobby.getId())
        .setUserId("guest").build()).getCode();
    server.clock.advance(Duration.ofSeconds(5));
    RedeemAccessCodeResponse redeemed = TokenServiceGrpc.newBlockingStub(server.channel).redeemAccessCode(
        RedeemAccessCodeRequest.newBuilder().setSessionId(lobby.getId()).setCode(code).build());
    assertTrue(redeemed.getAwaitingAdmission());
    assertFalse(redeemed.hasJoinToken());
    var asGuest = TokenServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(redeemed.getGuestCredential().getCredential()));
    IssueJoinTokenRequest guest = IssueJoinTokenRequest.newBuilder().setSessionId(lobby.getId()).setUserId("guest").build();
    assertStatus(Code.FAILED_PRECONDITION, "AWAITING_ADMISSION", () -> asGuest.issueJoinToken(guest));

    // The host sees who waits, longest first, and decides.
    var asDr = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), "dr", Duration.ofHours(1))
            .getCredential()));
    List<Participant> waiting = asDr.listLobby(ListLobbyRequest.newBuilder().setSessionId(lobby.getId()).build())
        .getParticipantsList();
    assertEquals(List.of("pat", "guest"), waiting.stream().map(Participant::getUserId).toList());
    assertEquals(AdmissionState.ADMISSION_STATE_WAITING, waiting.get(0).getAdmission());
    assertEquals(AdmissionState.ADMISSION_STATE_ADMITTED, asDr.admitParticipant(AdmitParticipantRequest.newBuilder()
        .setSessionId(lobby.getId()).setUserId("guest").build()).getParticipant().getAdmission());
    assertEquals("guest", asGuest.issueJoinToken(guest).getJoinToken().getIdentity());
    asDr.denyParticipant(DenyParticipantRequest.newBuilder().setSessionId(lobby.getId()).setUserId("pat").build());
    assertStatus(Code.PERMISSION_DENIED, "ADMISSION_DENIED", () -> tokens.issueJoinToken(pat));
    assertEquals(List.of(), asDr.listLobby(ListLobbyRequest.newBuilder().setSessionId(lobby.getId()).build())
        .getParticipantsList());
    // A non-host user may not run the lobby.
    var asPat = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(
        new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), "pat", Duration.ofHours(1))
            .getCredential()));
    assertStatus(Code.PERMISSION_DENIED, "HOST_REQUIRED", () -> asPat.admitParticipant(AdmitParticipantRequest
        .newBuilder().setSessionId(lobby.getId()).setUserId("pat").build()));
    List<SessionEventType> types = sessions.listSessionEvents(ListSessionEventsRequest.newBuilder()
        .setSessionId(lobby.getId()).build()).getEventsList().stream().map(SessionEvent::getType).toList();
    assertEquals(2, types.stream().filter(t -> t == SessionEventType.SESSION_EVENT_TYPE_LOBBY_ENTERED).count());
    assertTrue(types.contains(SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADMITTED));
    assertTrue(types.contains(SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_DENIED));
  }
}
