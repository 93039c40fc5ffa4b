package dev.convene.server.session;

import static dev.convene.server.session.SessionFixtures.spec;
import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Duration;
import com.google.protobuf.Timestamp;
import com.google.rpc.BadRequest;
import dev.convene.server.ConveneServer;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import dev.convene.v1.CancelSessionRequest;
import dev.convene.v1.CreateSessionRequest;
import dev.convene.v1.GetSessionStatsRequest;
import dev.convene.v1.ListSessionsRequest;
import dev.convene.v1.MediaType;
import dev.convene.v1.ParticipantRole;
import dev.convene.v1.ParticipantSpec;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.SessionSettings;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each kind of hostile input that once reached INTERNAL (found by a fuzzer building requests from
 * reflection) now gets INVALID_ARGUMENT naming its field, and writes nothing.
 */
class BadInputTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;
  static SessionServiceGrpc.SessionServiceBlockingStub a;
  private static int counter;

  @BeforeAll
  static void stubs() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
  }

  private static String ref() {
    return "bad-input-" + (++counter) + "-" + System.nanoTime();
  }

  private long sessions() {
    return server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM sessions").mapTo(Long.class).one());
  }

  /** A create changed by {@code change} is INVALID_ARGUMENT naming exactly {@code field}, and stores nothing. */
  private void rejectedCreate(String field, Consumer<CreateSessionRequest.Builder> change) {
    CreateSessionRequest.Builder req = visit(ref(), T0.plusSeconds(3600));
    change.accept(req);
    long before = sessions();
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.createSession(req.build()));
    assertEquals(List.of(field), badFields(e));
    assertEquals(before, sessions());
  }

  // --- control characters: PostgreSQL rejects NUL, and CR/LF forge lines where text is shown -------

  @ParameterizedTest
  @ValueSource(strings = {"\u0000", "\r\n", "\u001b", "\u007f"})
  void controlCharacters_inEveryTextField_areInvalidArgument(String c) {
    rejectedCreate("external_ref", r -> r.setExternalRef("appt" + c + ref()));
    rejectedCreate("title", r -> r.setTitle("Visit" + c));
    rejectedCreate("participants[0].display_name", r -> r.setParticipants(0,
        spec("dr", ParticipantRole.PARTICIPANT_ROLE_HOST).toBuilder().setDisplayName("Dr" + c)));
    rejectedCreate("metadata[\"k\"]", r -> r.putMetadata("k", "v" + c));
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.listSessions(ListSessionsRequest.newBuilder().setExternalRef("x" + c).build()));
    assertEquals(List.of("external_ref"), badFields(e));
    String id = a.createSession(visit(ref(), T0.plusSeconds(3600)).build()).getSession().getId();
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.cancelSession(
        CancelSessionRequest.newBuilder().setSessionId(id).setReason("no" + c).build()));
    assertEquals(List.of("reason"), badFields(e));
  }

  @Test
  void tabsAndUnicodeText_areStillAccepted() {
    var s = a.createSession(visit(ref(), T0.plusSeconds(3600)).setTitle("Visite de contrôle — Zoë 😀").build());
    assertEquals("Visite de contrôle — Zoë 😀", s.getSession().getTitle());
  }

  // --- timestamps and durations at the extremes ------------------------------------------------

  static final List<Timestamp> BAD_TIMES = List.of(
      Timestamp.newBuilder().setSeconds(Long.MAX_VALUE).build(),
      Timestamp.newBuilder().setSeconds(Long.MIN_VALUE).build(),
      Timestamp.newBuilder().setSeconds(253_402_300_800L).build(), // 10000-01-01
      Timestamp.newBuilder().setSeconds(-62_135_596_801L).build(), // before 0001-01-01
      Timestamp.newBuilder().setSeconds(0).setNanos(-1).build(),
      Timestamp.newBuilder().setSeconds(0).setNanos(1_000_000_000).build());

  @Test
  void createSession_timesOutOfRange_areInvalidArgument() {
    for (Timestamp t : BAD_TIMES) {
      rejectedCreate("scheduled_start_time", r -> r.setScheduledStartTime(t));
      rejectedCreate("scheduled_end_time", r -> r.setScheduledEndTime(t));
    }
    // Valid timestamps, outside the window a schedule may use (2000 up to 2200).
    rejectedCreate("scheduled_start_time", r -> r.setScheduledStartTime(Timestamp.newBuilder().setSeconds(0)));
    rejectedCreate("scheduled_end_time", r -> r.setScheduledEndTime(Timestamp.newBuilder().setSeconds(253_402_300_799L)));
  }

  @Test
  void createSession_durationsOutOfRange_areInvalidArgument() {
    for (Duration d : List.of(Duration.newBuilder().setSeconds(Long.MAX_VALUE).build(),
        Duration.newBuilder().setSeconds(Long.MIN_VALUE).build(),
        Duration.newBuilder().setSeconds(1).setNanos(-5).build(),
        Duration.newBuilder().setNanos(2_000_000_000).build())) {
      rejectedCreate("settings.no_show_grace", r -> r.setSettings(SessionSettings.newBuilder().setNoShowGrace(d)));
      rejectedCreate("settings.empty_timeout", r -> r.setSettings(SessionSettings.newBuilder().setEmptyTimeout(d)));
    }
  }

  @Test
  void listSessionsAndStats_timesOutOfRange_areInvalidArgument() {
    for (Timestamp t : BAD_TIMES) {
      StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
          () -> a.listSessions(ListSessionsRequest.newBuilder().setScheduledStartFrom(t).build()));
      assertEquals(List.of("scheduled_start_from"), badFields(e));
      e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
          () -> a.listSessions(ListSessionsRequest.newBuilder().setScheduledStartBefore(t).build()));
      assertEquals(List.of("scheduled_start_before"), badFields(e));
      e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.getSessionStats(GetSessionStatsRequest
          .newBuilder().setStartTime(t).setEndTime(ProtoTime.timestamp(T0)).build()));
      assertEquals(List.of("start_time"), badFields(e));
      e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.getSessionStats(GetSessionStatsRequest
          .newBuilder().setStartTime(ProtoTime.timestamp(T0)).setEndTime(t).build()));
      assertEquals(List.of("end_time"), badFields(e));
    }
  }

  @Test
  void listSessionsAndStats_atTheEdgesOfTheValidRange_answer() {
    Timestamp first = Timestamp.newBuilder().setSeconds(-62_135_596_800L).build();
    Timestamp last = Timestamp.newBuilder().setSeconds(253_402_300_799L).setNanos(999_999_999).build();
    a.listSessions(ListSessionsRequest.newBuilder().setScheduledStartFrom(first).setScheduledStartBefore(last).build());
    a.getSessionStats(GetSessionStatsRequest.newBuilder().setStartTime(first).setEndTime(last).build());
  }

  // --- sizes: checked before any other rule --------------------------------------------------------

  @Test
  void createSession_tenThousandParticipants_isRejectedOnItsSizeAlone() {
    CreateSessionRequest.Builder req = visit(ref(), T0.plusSeconds(3600));
    for (int i = 0; i < 10_000; i++) {
      // Every entry also breaks the unique rule, whose evaluation is quadratic: it must not run.
      req.addParticipants(ParticipantSpec.newBuilder().setUserId("u").setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
    }
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.createSession(req.build()));
    BadRequest.FieldViolation v = StatusProto.fromThrowable(e).getDetailsList().stream()
        .filter(d -> d.is(BadRequest.class)).map(d -> unpack(d).getFieldViolations(0)).findFirst().orElseThrow();
    assertEquals("participants", v.getField());
    assertEquals("repeated.max_items", v.getReason());
    assertEquals(1, badFields(e).size());
  }

  @Test
  void createSession_tooManyMetadataPairs_isRejectedOnItsSizeAlone() {
    rejectedCreate("metadata", r -> {
      for (int i = 0; i < 33; i++) {
        r.putMetadata("k" + i, "v\u0000"); // each value also breaks a rule that must not run
      }
    });
  }

  @Test
  void theLargestValidRequest_fitsTheInboundLimit_andIsAccepted() {
    String four = "😀"; // 4 bytes in UTF-8, one character for max_len
    CreateSessionRequest.Builder req = CreateSessionRequest.newBuilder()
        .setRequestId("r".repeat(64))
        .setExternalRef(four.repeat(127) + (++counter % 10))
        .setTitle(four.repeat(200))
        .setMedia(MediaType.MEDIA_TYPE_VIDEO)
        .setScheduledStartTime(ProtoTime.timestamp(T0))
        .setScheduledEndTime(ProtoTime.timestamp(T0.plusSeconds(60)))
        .setSettings(SessionSettings.newBuilder().setMaxParticipants(500).setLobbyEnabled(true)
            .setNoShowGrace(Duration.newBuilder().setSeconds(86_400)).setEmptyTimeout(Duration.newBuilder().setSeconds(86_400)));
    for (int i = 0; i < 32; i++) {
      req.putMetadata(String.format("%064d", i), four.repeat(512));
    }
    for (int i = 0; i < 100; i++) {
      req.addParticipants(ParticipantSpec.newBuilder().setUserId(String.format("%0128d", i))
          .setDisplayName(four.repeat(200)).setRole(ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
    }
    int size = req.build().getSerializedSize();
    assertTrue(size > 150_000 && size < ConveneServer.MAX_REQUEST_BYTES, "largest valid request: " + size + " bytes");
    String id = a.createSession(req.build()).getSession().getId();
    assertEquals(Long.valueOf(100), server.jdbi().<Long, RuntimeException>withHandle(h -> h.createQuery(
        "SELECT count(*) FROM participants WHERE session_id = :id").bind("id", id).mapTo(Long.class).one()));
  }

  // --- credentials ------------------------------------------------------------------------------

  @Test
  void anOversizedAuthorizationHeader_isUnauthenticated() {
    var stub = stub(server, "cvk_" + "x".repeat(5000));
    assertStatus(Code.UNAUTHENTICATED, "INVALID_CREDENTIAL",
        () -> stub.listSessions(ListSessionsRequest.getDefaultInstance()));
  }

  private static BadRequest unpack(com.google.protobuf.Any any) {
    try {
      return any.unpack(BadRequest.class);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError(e);
    }
  }
}
