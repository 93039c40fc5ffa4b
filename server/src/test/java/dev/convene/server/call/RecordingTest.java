package dev.convene.server.call;

import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.GrpcAssertions.errorInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.FakeTwilio;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Recording consent on the real server and database (seed 003: recording off unless consented):
 * starting needs everyone present to have consented, a withdrawal or a join without consent stops
 * it at once, the session's end stops it, every change is evented, and the provider's room follows
 * (Jitsi through the host's token, Twilio through its recording rules on a local fake).
 */
class RecordingTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();

  TestServer server;
  CallServiceGrpc.CallServiceBlockingStub calls;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;
  TokenServiceGrpc.TokenServiceBlockingStub tokens;
  Session s;

  @BeforeEach
  void setUp() {
    use(servers.get(), ProviderConfig.newBuilder().setJitsi(JitsiConfig.newBuilder().setDomain("meet.example.org")
        .setAppId("convene").setAppSecret("jitsi-app-secret-0123456789-abcdefghij")));
  }

  /** Calls {@code to} as tenant A, whose default provider becomes {@code provider}, about a new session. */
  void use(TestServer to, ProviderConfig.Builder provider) {
    server = to;
    var key = TestServer.bearer(server.tenantA.key());
    calls = CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    tokens = TokenServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key);
    ProviderConfigServiceGrpc.newBlockingStub(server.channel).withCallCredentials(key)
        .setProviderConfig(SetProviderConfigRequest.newBuilder().setConfig(provider.setDefault(true)).build());
    s = createSession();
  }

  Session createSession() {
    Instant start = server.clock.instant().plus(Duration.ofMinutes(5));
    return sessions.createSession(CreateSessionRequest.newBuilder().setExternalRef("rec-" + System.nanoTime())
        .setMedia(MediaType.MEDIA_TYPE_VIDEO).setScheduledStartTime(ProtoTime.timestamp(start))
        .setScheduledEndTime(ProtoTime.timestamp(start.plus(Duration.ofMinutes(30))))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("dr").setRole(ParticipantRole.PARTICIPANT_ROLE_HOST))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("pat").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .addParticipants(ParticipantSpec.newBuilder().setUserId("nurse").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT))
        .build()).getSession();
  }

  SetRecordingConsentRequest consent(String user, boolean granted) {
    return SetRecordingConsentRequest.newBuilder().setSessionId(s.getId()).setUserId(user).setGranted(granted).build();
  }

  StartRecordingRequest start() {
    return StartRecordingRequest.newBuilder().setSessionId(s.getId()).build();
  }

  StopRecordingRequest stop() {
    return StopRecordingRequest.newBuilder().setSessionId(s.getId()).build();
  }

  void join(String user) {
    sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(user).build());
  }

  String userCredential(String user) {
    return new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), user, Duration.ofHours(1))
        .getCredential();
  }

  CallServiceGrpc.CallServiceBlockingStub as(String credential) {
    return CallServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(credential));
  }

  /** The session's recording events, each as "TYPE key=value ..." in log order. */
  List<String> recordingEvents() {
    return sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList().stream()
        .filter(e -> e.getType().name().contains("RECORDING") || e.getType().name().contains("JOINED")
            || e.getType() == SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED)
        .map(RecordingTest::describe).toList();
  }

  static String describe(SessionEvent e) {
    StringBuilder b = new StringBuilder(e.getType().name().substring("SESSION_EVENT_TYPE_".length()));
    for (String k : List.of("user_id", "consent", "reason", "to")) {
      if (e.getPayload().containsFields(k)) {
        b.append(' ').append(k).append('=').append(e.getPayload().getFieldsOrThrow(k).getStringValue());
      }
    }
    return b.toString();
  }

  Map<String, Object> sessionRow() {
    return server.jdbi().withHandle(h -> h.createQuery(
            "SELECT recording, recording_change_time, recording_stop_reason FROM sessions WHERE id = :id")
        .bind("id", s.getId()).mapToMap().one());
  }

  String consentRow(String user) {
    return server.jdbi().withHandle(h -> h.createQuery(
            "SELECT recording_consent FROM participants WHERE session_id = :id AND user_id = :user")
        .bind("id", s.getId()).bind("user", user).mapTo(String.class).one());
  }

  RecordingState recording() {
    return sessions.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession().getRecording();
  }

  @Test
  void startRecording_needsTheConsentOfEveryonePresent_thenStartsOnce_andStopsOnce() {
    join("dr");
    join("pat");
    SetRecordingConsentResponse dr = as(userCredential("dr")).setRecordingConsent(consent("dr", true));
    assertEquals(RecordingConsent.RECORDING_CONSENT_GRANTED, dr.getParticipant().getRecordingConsent());
    assertEquals(ProtoTime.timestamp(server.clock.instant()), dr.getParticipant().getRecordingConsentTime());
    assertFalse(dr.getRecording().getActive());
    // Nurse is not present: her missing consent does not count.
    StatusRuntimeException missing = assertStatus(Code.FAILED_PRECONDITION, "RECORDING_CONSENT_MISSING",
        () -> calls.startRecording(start()));
    assertEquals(Map.of("missing_user_ids", "pat", "missing_count", "1"), errorInfo(missing).getMetadataMap());
    assertFalse(recording().getActive());

    // The patient consents with a guest credential for itself.
    String guest = new CredentialFeature(server.platform).issuer().guest(server.tenantA.tenantId(), s.getId(), "pat",
        server.clock.instant().plusSeconds(3600)).getCredential();
    assertEquals(RecordingConsent.RECORDING_CONSENT_GRANTED,
        as(guest).setRecordingConsent(consent("pat", true)).getParticipant().getRecordingConsent());
    server.clock.advance(Duration.ofSeconds(10));
    Instant started = server.clock.instant();
    RecordingState on = as(userCredential("dr")).startRecording(start()).getRecording();
    assertTrue(on.getActive());
    assertEquals(ProtoTime.timestamp(started), on.getChangeTime());
    assertEquals(RecordingStopReason.RECORDING_STOP_REASON_UNSPECIFIED, on.getStopReason());
    // Repeating changes nothing: no second event, the same start time.
    server.clock.advance(Duration.ofSeconds(10));
    assertEquals(on, calls.startRecording(start()).getRecording());
    assertEquals(on, recording());
    assertEquals(RecordingConsent.RECORDING_CONSENT_GRANTED, calls.setRecordingConsent(consent("pat", true))
        .getParticipant().getRecordingConsent());
    assertEquals(true, sessionRow().get("recording"));
    assertNotNull(sessionRow().get("recording_change_time"));
    assertEquals("GRANTED", consentRow("pat"));
    assertEquals("NONE", consentRow("nurse"));

    RecordingState off = calls.stopRecording(stop()).getRecording();
    assertFalse(off.getActive());
    assertEquals(RecordingStopReason.RECORDING_STOP_REASON_REQUESTED, off.getStopReason());
    assertEquals(off, calls.stopRecording(stop()).getRecording());
    assertEquals("REQUESTED", sessionRow().get("recording_stop_reason"));
    assertEquals(List.of("PARTICIPANT_JOINED user_id=dr", "STATUS_CHANGED to=WAITING", "PARTICIPANT_JOINED user_id=pat",
        "STATUS_CHANGED to=IN_PROGRESS", "RECORDING_CONSENT_CHANGED user_id=dr consent=GRANTED",
        "RECORDING_CONSENT_CHANGED user_id=pat consent=GRANTED", "RECORDING_STARTED", "RECORDING_STOPPED reason=REQUESTED"),
        recordingEvents());
  }

  @Test
  void withdrawingConsent_whileRecording_stopsItAtOnce_andBlocksARestart() {
    join("dr");
    join("pat");
    calls.setRecordingConsent(consent("dr", true));
    calls.setRecordingConsent(consent("pat", true));
    calls.startRecording(start());

    SetRecordingConsentResponse r = as(userCredential("pat")).setRecordingConsent(consent("pat", false));

    assertEquals(RecordingConsent.RECORDING_CONSENT_WITHDRAWN, r.getParticipant().getRecordingConsent());
    assertFalse(r.getRecording().getActive());
    assertEquals(RecordingStopReason.RECORDING_STOP_REASON_CONSENT_WITHDRAWN, r.getRecording().getStopReason());
    assertEquals(r.getRecording(), recording());
    assertEquals("WITHDRAWN", consentRow("pat"));
    assertEquals(Map.of("recording", false, "reason", "CONSENT_WITHDRAWN"), Map.of("recording",
        sessionRow().get("recording"), "reason", sessionRow().get("recording_stop_reason")));
    List<String> events = recordingEvents();
    assertEquals(List.of("RECORDING_STARTED", "RECORDING_CONSENT_CHANGED user_id=pat consent=WITHDRAWN",
        "RECORDING_STOPPED user_id=pat reason=CONSENT_WITHDRAWN"), events.subList(events.size() - 3, events.size()));
    assertStatus(Code.FAILED_PRECONDITION, "RECORDING_CONSENT_MISSING", () -> calls.startRecording(start()));
  }

  @Test
  void aJoinWithoutConsent_whileRecording_stopsIt_aJoinWithConsentDoesNot() {
    join("dr");
    calls.setRecordingConsent(consent("dr", true));
    calls.setRecordingConsent(consent("nurse", true));
    calls.startRecording(start());

    join("nurse");
    assertTrue(recording().getActive());
    server.clock.advance(Duration.ofSeconds(3));
    join("pat");

    RecordingState off = recording();
    assertFalse(off.getActive());
    assertEquals(RecordingStopReason.RECORDING_STOP_REASON_PARTICIPANT_WITHOUT_CONSENT, off.getStopReason());
    assertEquals(ProtoTime.timestamp(server.clock.instant()), off.getChangeTime());
    assertEquals(List.of("PARTICIPANT_JOINED user_id=dr", "STATUS_CHANGED to=WAITING",
        "RECORDING_CONSENT_CHANGED user_id=dr consent=GRANTED", "RECORDING_CONSENT_CHANGED user_id=nurse consent=GRANTED",
        "RECORDING_STARTED", "PARTICIPANT_JOINED user_id=nurse", "STATUS_CHANGED to=IN_PROGRESS",
        "PARTICIPANT_JOINED user_id=pat", "RECORDING_STOPPED user_id=pat reason=PARTICIPANT_WITHOUT_CONSENT"),
        recordingEvents());
    assertEquals("PARTICIPANT_WITHOUT_CONSENT", sessionRow().get("recording_stop_reason"));
  }

  @Test
  void theSessionsEnd_stopsRecording_andLaterChangesAreSessionEnded() {
    join("dr");
    calls.setRecordingConsent(consent("dr", true));
    calls.startRecording(start());

    sessions.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("moved").build());

    assertFalse(recording().getActive());
    assertEquals(RecordingStopReason.RECORDING_STOP_REASON_SESSION_ENDED, recording().getStopReason());
    List<String> events = recordingEvents();
    assertEquals(List.of("RECORDING_STARTED", "RECORDING_STOPPED reason=SESSION_ENDED", "STATUS_CHANGED reason=moved to=CANCELLED"),
        events.subList(events.size() - 3, events.size()));
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> calls.startRecording(start()));
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> calls.stopRecording(stop()));
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> calls.setRecordingConsent(consent("pat", true)));
  }

  @Test
  void onlyHostsOrTheTenantStartAndStop_andUsersAndGuestsConsentOnlyForThemselves() {
    var asPat = as(userCredential("pat"));
    assertStatus(Code.PERMISSION_DENIED, "HOST_REQUIRED", () -> asPat.startRecording(start()));
    assertStatus(Code.PERMISSION_DENIED, "HOST_REQUIRED", () -> asPat.stopRecording(stop()));
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> asPat.setRecordingConsent(consent("dr", true)));
    String guest = new CredentialFeature(server.platform).issuer().guest(server.tenantA.tenantId(), s.getId(), "pat",
        server.clock.instant().plusSeconds(3600)).getCredential();
    assertStatus(Code.PERMISSION_DENIED, "ACTING_FOR_OTHER_USER", () -> as(guest).setRecordingConsent(consent("dr", true)));
    var asStranger = as(userCredential("stranger"));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> asStranger.startRecording(start()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> asStranger.setRecordingConsent(consent("stranger", true)));
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> calls.setRecordingConsent(consent("nobody", true)));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> as(server.tenantB.key()).startRecording(start()));
    assertEquals("NONE", consentRow("dr"));
    assertEquals(false, sessionRow().get("recording"));
    assertEquals(List.of(), recordingEvents());
  }

  @Test
  void badInput_isInvalidArgumentNamingTheField() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> calls.startRecording(StartRecordingRequest.newBuilder().setSessionId("nope").build()));
    assertEquals(List.of("session_id"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> calls.stopRecording(StopRecordingRequest.getDefaultInstance()));
    assertEquals(List.of("session_id"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> calls.setRecordingConsent(consent("not a user id", true)));
    assertEquals(List.of("user_id"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> calls.setRecordingConsent(
        SetRecordingConsentRequest.newBuilder().setSessionId("ses_!").setUserId("pat").setGranted(true).build()));
    assertEquals(List.of("session_id"), badFields(e));
    assertEquals("NONE", consentRow("pat"));
  }

  static String jitsiRecordingFeature(JoinToken token) throws Exception {
    JsonNode payload = new ObjectMapper().readTree(Base64.getUrlDecoder().decode(token.getToken().split("\\.")[1]));
    return payload.path("context").path("features").path("recording").asText();
  }

  @Test
  void aJitsiHostsToken_allowsRecordingOnlyWhileRecordingIsOn_andTheHostConsented() throws Exception {
    IssueJoinTokenRequest dr = IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build();
    assertEquals("false", jitsiRecordingFeature(tokens.issueJoinToken(dr).getJoinToken()));
    calls.startRecording(start());
    // On, but the host itself has not consented.
    assertEquals("false", jitsiRecordingFeature(tokens.issueJoinToken(dr).getJoinToken()));
    calls.setRecordingConsent(consent("dr", true));
    assertEquals("true", jitsiRecordingFeature(tokens.issueJoinToken(dr).getJoinToken()));
    calls.setRecordingConsent(consent("pat", true));
    assertEquals("false", jitsiRecordingFeature(tokens.issueJoinToken(IssueJoinTokenRequest.newBuilder()
        .setSessionId(s.getId()).setUserId("pat").build()).getJoinToken()), "only hosts record");
    calls.stopRecording(stop());
    assertEquals("false", jitsiRecordingFeature(tokens.issueJoinToken(dr).getJoinToken()));
  }

  @Test
  void twilio_followsThroughRecordingRules_rightAfterTheCommit_orByTheRetriedJob() throws Exception {
    int[] rulesStatus = {202};
    try (FakeTwilio twilio = new FakeTwilio();
        TestServer twilioServer = TestServer.withTwilioAt(twilio.url())) {
      twilio.responder = hit -> {
        if (hit.path().equals("/v1/Rooms")) {
          return new FakeTwilio.Answer(201, FakeTwilio.room(FakeTwilio.ROOM_SID, hit.form().get("UniqueName"),
              "in-progress"));
        }
        if (hit.path().endsWith("/RecordingRules")) {
          return new FakeTwilio.Answer(rulesStatus[0], rulesStatus[0] == 202
              ? "{\"room_sid\":\"" + FakeTwilio.ROOM_SID + "\",\"rules\":" + hit.form().get("Rules") + "}"
              : FakeTwilio.error(20500, rulesStatus[0]));
        }
        // Listing participants (reconciliation) is unavailable here: presence stays as the test sets it.
        return new FakeTwilio.Answer(503, FakeTwilio.error(20503, 503));
      };
      use(twilioServer, ProviderConfig.newBuilder().setTwilio(TwilioConfig.newBuilder()
          .setAccountSid(FakeTwilio.ACCOUNT).setApiKeySid(FakeTwilio.KEY)
          .setApiKeySecret("test-secret-0123456789-abcdefghijklmnop").setAuthToken("auth-token-0123456789-abcdefghijklmno")));
      tokens.issueJoinToken(IssueJoinTokenRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
      assertEquals("false", twilio.hits.get(0).form().get("RecordParticipantsOnConnect"), "rooms start without recording");
      join("dr");
      calls.setRecordingConsent(consent("dr", true));
      String rulesPath = "/v1/Rooms/" + s.getId() + "/RecordingRules";
      java.util.function.Supplier<List<Map<String, String>>> rules = () -> twilio.hits.stream()
          .filter(h -> h.method().equals("POST") && h.path().equals(rulesPath)).map(FakeTwilio.Hit::form).toList();
      Map<String, String> include = Map.of("Rules", "[{\"type\":\"include\",\"all\":true}]");
      Map<String, String> exclude = Map.of("Rules", "[{\"type\":\"exclude\",\"all\":true}]");

      calls.startRecording(start());

      assertEquals(List.of(include), rules.get());
      assertEquals(0, recordingJobs(), "confirmed at once, so no job is left");

      // Twilio fails: the stop is recorded anyway, and the job retries until Twilio takes it.
      rulesStatus[0] = 500;
      calls.stopRecording(stop());
      assertFalse(recording().getActive());
      assertEquals(List.of(include, exclude), rules.get());
      assertEquals(1, recordingJobs());
      rulesStatus[0] = 202;
      server.clock.advance(Duration.ofMinutes(1));
      server.jobs().runOnce();
      assertEquals(List.of(include, exclude, exclude), rules.get());
      assertEquals(0, recordingJobs());

      // A join without consent stops it through the job, due at once (JoinSession does not call providers).
      calls.startRecording(start());
      assertEquals(4, rules.get().size());
      join("pat");
      assertEquals(1, recordingJobs());
      server.jobs().runOnce();
      assertEquals(List.of(include, exclude, exclude, include, exclude), rules.get());
      assertEquals(0, recordingJobs());
    }
  }

  long recordingJobs() {
    return server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM jobs WHERE kind = 'provider.set_recording'").mapTo(Long.class).one());
  }
}
