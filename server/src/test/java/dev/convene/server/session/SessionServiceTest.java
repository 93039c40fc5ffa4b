package dev.convene.server.session;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static dev.convene.server.session.SessionFixtures.spec;
import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.GrpcAssertions.assertStatus;
import static dev.convene.server.testing.GrpcAssertions.badFields;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.util.Durations;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.*;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** SessionService through real stubs on the in-process server, over real PostgreSQL. */
class SessionServiceTest {
  @RegisterExtension
  static final TestServerExtension servers = new TestServerExtension();
  static TestServer server;
  static SessionServiceGrpc.SessionServiceBlockingStub a;
  static SessionServiceGrpc.SessionServiceBlockingStub b;

  @BeforeAll
  static void stubs() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
    b = stub(server, server.tenantB.key());
  }

  @BeforeEach
  void resetClock() {
    server.clock.set(T0);
  }

  private static int counter;

  private static String ref() {
    return "appt-" + (++counter) + "-" + System.nanoTime();
  }

  private Session create() {
    return a.createSession(visit(ref(), T0.plus(Duration.ofHours(1))).build()).getSession();
  }

  private long count(String sql, Object... args) {
    return server.jdbi().withHandle(h -> {
      var q = h.createQuery(sql);
      for (int i = 0; i < args.length; i++) {
        q.bind(i, args[i]);
      }
      return q.mapTo(Long.class).one();
    });
  }

  // --- CreateSession ----------------------------------------------------------------------

  @Test
  void createSession_storesSessionRosterAndEvents_withDefaults() {
    Session s = a.createSession(visit(ref(), T0).putMetadata("clinic", "north").build()).getSession();

    assertTrue(s.getId().startsWith("ses_"));
    assertEquals(SessionStatus.SESSION_STATUS_SCHEDULED, s.getStatus());
    assertEquals(50, s.getSettings().getMaxParticipants());
    assertEquals(Durations.fromMinutes(15), s.getSettings().getNoShowGrace());
    assertEquals(Durations.fromMinutes(5), s.getSettings().getEmptyTimeout());
    assertEquals("north", s.getMetadataOrThrow("clinic"));
    assertEquals(ProtoTime.timestamp(T0), s.getCreateTime());
    assertEquals(1, count("SELECT count(*) FROM sessions WHERE id = ?", s.getId()));
    assertEquals(2, count("SELECT count(*) FROM participants WHERE session_id = ?", s.getId()));
    List<SessionEventType> types = a.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList().stream().map(SessionEvent::getType).toList();
    assertEquals(List.of(SessionEventType.SESSION_EVENT_TYPE_SESSION_CREATED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED, SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED), types);
  }

  @Test
  void createSession_responseEqualsWhatALaterReadReturns_evenWithNanosecondTimes() {
    server.clock.set(T0.plusNanos(123_456_789));
    Session created = a.createSession(visit(ref(), T0.plusNanos(987_654_321)).build()).getSession();
    assertEquals(created, a.getSession(GetSessionRequest.newBuilder().setSessionId(created.getId()).build()).getSession());
    Session joined = a.joinSession(JoinSessionRequest.newBuilder().setSessionId(created.getId()).setUserId("pat").build())
        .getSession();
    assertEquals(joined, a.getSession(GetSessionRequest.newBuilder().setSessionId(created.getId()).build()).getSession());
  }

  @Test
  void createSession_sameRequestId_returnsFirstSession() {
    String ref = ref();
    Session first = a.createSession(visit(ref, T0).setRequestId("req-1-" + ref.hashCode()).build()).getSession();
    Session again = a.createSession(visit(ref, T0).setRequestId("req-1-" + ref.hashCode()).build()).getSession();

    assertEquals(first.getId(), again.getId());
    assertEquals(1, count("SELECT count(*) FROM sessions WHERE external_ref = ?", ref));
  }

  @Test
  void createSession_sameExternalRef_isAlreadyExists() {
    String ref = ref();
    a.createSession(visit(ref, T0).build());

    assertStatus(Code.ALREADY_EXISTS, "EXTERNAL_REF_ALREADY_EXISTS", () -> a.createSession(visit(ref, T0).build()));
    // Another tenant may use the same reference.
    assertEquals(ref, b.createSession(visit(ref, T0).build()).getSession().getExternalRef());
  }

  @Test
  void createSession_badInput_isInvalidArgumentNamingEachField_andWritesNothing() {
    long before = count("SELECT count(*) FROM sessions");
    CreateSessionRequest.Builder bad = visit("", T0)
        .setMedia(MediaType.MEDIA_TYPE_UNSPECIFIED)
        .setScheduledEndTime(ProtoTime.timestamp(T0.minusSeconds(1)))
        .setTitle("x".repeat(201))
        .addParticipants(spec("dr", ParticipantRole.PARTICIPANT_ROLE_OBSERVER))
        .setRequestId("not valid!")
        .putMetadata("not a key!", "v");

    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.createSession(bad.build()));

    assertTrue(badFields(e).containsAll(List.of("external_ref", "media", "title", "metadata[\"not a key!\"]", "request_id",
        "scheduled_end_time", "participants")), badFields(e).toString());
    assertEquals(before, count("SELECT count(*) FROM sessions"));
  }

  @Test
  void createSession_badParticipant_namesTheNestedField() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.createSession(
        visit(ref(), T0).addParticipants(ParticipantSpec.newBuilder().setUserId("bad user").build()).build()));
    assertTrue(badFields(e).containsAll(List.of("participants[2].user_id", "participants[2].role")), badFields(e).toString());
  }

  @Test
  void createSession_withoutSchedule_isInvalidArgument() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.createSession(
        CreateSessionRequest.newBuilder().setExternalRef(ref()).setMedia(MediaType.MEDIA_TYPE_AUDIO).build()));
    // Each missing time is reported once, as required; the "end after start" rule stays quiet.
    assertEquals(List.of("scheduled_start_time", "scheduled_end_time"), badFields(e));
  }

  // --- GetSession / tenant isolation ------------------------------------------------------

  @Test
  void getSession_returnsIt_andAnotherTenantGetsNotFound() {
    Session s = create();
    assertEquals(s, a.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession());

    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> b.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> b.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> b.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> b.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND",
        () -> b.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId()).build()));
    assertFalse(b.listSessions(ListSessionsRequest.newBuilder().setExternalRef(s.getExternalRef()).build())
        .getSessionsList().stream().anyMatch(x -> x.getId().equals(s.getId())));
  }

  @Test
  void getSession_malformedId_isInvalidArgument() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.getSession(GetSessionRequest.newBuilder().setSessionId("grp_123").build()));
    assertEquals(List.of("session_id"), badFields(e));
  }

  // --- ListSessions -----------------------------------------------------------------------

  @Test
  void listSessions_pagesThroughFilteredSessions_inScheduleOrder() {
    // Five sessions on a day of their own, one with a distinct user on the roster.
    var day = T0.plus(Duration.ofDays(100));
    List<String> ids = new ArrayList<>();
    for (int i = 4; i >= 0; i--) {
      var req = visit(ref(), day.plus(Duration.ofHours(i)));
      if (i == 2) {
        req.addParticipants(spec("nurse-7", ParticipantRole.PARTICIPANT_ROLE_OBSERVER));
      }
      ids.add(0, a.createSession(req.build()).getSession().getId());
    }
    ListSessionsRequest.Builder q = ListSessionsRequest.newBuilder()
        .setScheduledStartFrom(ProtoTime.timestamp(day))
        .setScheduledStartBefore(ProtoTime.timestamp(day.plus(Duration.ofDays(1))))
        .setPageSize(2);

    List<String> seen = new ArrayList<>();
    int pages = 0;
    String token = "";
    do {
      ListSessionsResponse page = a.listSessions(q.setPageToken(token).build());
      page.getSessionsList().forEach(s -> seen.add(s.getId()));
      token = page.getNextPageToken();
      pages++;
    } while (!token.isEmpty());

    assertEquals(ids, seen);
    assertEquals(3, pages);
    assertEquals(List.of(ids.get(2)), a.listSessions(ListSessionsRequest.newBuilder().setUserId("nurse-7").build())
        .getSessionsList().stream().map(Session::getId).toList());
    a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(ids.get(4)).setReason("patient rebooked").build());
    assertEquals(List.of(ids.get(4)), a.listSessions(q.clearPageToken().setPageSize(0)
        .setStatus(SessionStatus.SESSION_STATUS_CANCELLED).build()).getSessionsList().stream().map(Session::getId).toList());
  }

  @Test
  void listSessions_badPageTokenOrSize_isInvalidArgument() {
    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN",
        () -> a.listSessions(ListSessionsRequest.newBuilder().setPageToken("bm90LWEtdG9rZW4").build()));
    assertEquals(List.of("page_token"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.listSessions(ListSessionsRequest.newBuilder().setPageSize(-1).build()));
    assertEquals(List.of("page_size"), badFields(e));
    e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.listSessions(ListSessionsRequest.newBuilder()
        .setScheduledStartFrom(ProtoTime.timestamp(T0)).setScheduledStartBefore(ProtoTime.timestamp(T0)).build()));
    assertEquals(List.of("scheduled_start_before"), badFields(e));
  }

  @Test
  void listSessions_hugePageSize_isCapped() {
    var day = T0.plus(Duration.ofDays(300));
    for (int i = 0; i < 201; i++) {
      a.createSession(visit(ref(), day.plusSeconds(i)).clearParticipants().build());
    }
    ListSessionsResponse page = a.listSessions(ListSessionsRequest.newBuilder().setPageSize(100_000)
        .setScheduledStartFrom(ProtoTime.timestamp(day)).build());
    assertEquals(200, page.getSessionsCount());
    assertFalse(page.getNextPageToken().isEmpty());
  }

  // --- Roster -----------------------------------------------------------------------------

  @Test
  void addParticipant_addsOnce_thenAlreadyExists() {
    Session s = create();
    Participant p = a.addParticipant(AddParticipantRequest.newBuilder().setSessionId(s.getId())
        .setParticipant(spec("obs", ParticipantRole.PARTICIPANT_ROLE_OBSERVER)).build()).getParticipant();
    assertEquals(ParticipantRole.PARTICIPANT_ROLE_OBSERVER, p.getRole());
    assertEquals(ProtoTime.timestamp(T0), p.getAddTime());

    assertStatus(Code.ALREADY_EXISTS, "PARTICIPANT_ALREADY_EXISTS", () -> a.addParticipant(AddParticipantRequest
        .newBuilder().setSessionId(s.getId()).setParticipant(spec("obs", ParticipantRole.PARTICIPANT_ROLE_HOST)).build()));
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.addParticipant(AddParticipantRequest.newBuilder().setSessionId(s.getId()).build()));
    assertStatus(Code.NOT_FOUND, "SESSION_NOT_FOUND", () -> a.addParticipant(AddParticipantRequest.newBuilder()
        .setSessionId("ses_doesnotexist").setParticipant(spec("x", ParticipantRole.PARTICIPANT_ROLE_HOST)).build()));
  }

  @Test
  void addParticipant_toEndedSession_isFailedPrecondition() {
    Session s = create();
    a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("clinic closed").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> a.addParticipant(AddParticipantRequest.newBuilder()
        .setSessionId(s.getId()).setParticipant(spec("late", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT)).build()));
  }

  @Test
  void addParticipant_pastRosterLimit_isResourceExhausted() {
    Session s = a.createSession(visit(ref(), T0).clearParticipants().build()).getSession();
    for (int i = 0; i < SessionService.MAX_ROSTER; i++) {
      a.addParticipant(AddParticipantRequest.newBuilder().setSessionId(s.getId())
          .setParticipant(spec("u" + i, ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT)).build());
    }
    assertStatus(Code.RESOURCE_EXHAUSTED, "ROSTER_FULL", () -> a.addParticipant(AddParticipantRequest.newBuilder()
        .setSessionId(s.getId()).setParticipant(spec("one-more", ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT)).build()));
  }

  @Test
  void removeParticipant_presentUserLeavesFirst_thenNotFound() {
    Session s = create();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    server.clock.advance(Duration.ofSeconds(42));

    Participant removed = a.removeParticipant(RemoveParticipantRequest.newBuilder().setSessionId(s.getId())
        .setUserId("pat").build()).getParticipant();

    assertFalse(removed.getPresent());
    assertEquals(Durations.fromSeconds(42), removed.getConnectedDuration());
    assertEquals(0, count("SELECT count(*) FROM participants WHERE session_id = ? AND user_id = 'pat'", s.getId()));
    assertEquals(0, a.getSession(GetSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession().getPresentCount());
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND", () -> a.removeParticipant(RemoveParticipantRequest
        .newBuilder().setSessionId(s.getId()).setUserId("pat").build()));
  }

  @Test
  void removeParticipant_fromEndedSession_isFailedPrecondition() {
    Session s = create();
    a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("clinic closed").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED", () -> a.removeParticipant(RemoveParticipantRequest
        .newBuilder().setSessionId(s.getId()).setUserId("pat").build()));
    assertEquals(2, count("SELECT count(*) FROM participants WHERE session_id = ?", s.getId()));
  }

  @Test
  void listParticipants_pagesInAddOrder() {
    Session s = a.createSession(visit(ref(), T0).clearParticipants().build()).getSession();
    for (int i = 0; i < 5; i++) {
      a.addParticipant(AddParticipantRequest.newBuilder().setSessionId(s.getId())
          .setParticipant(spec("u" + i, ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT)).build());
    }
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      ListParticipantsResponse page = a.listParticipants(ListParticipantsRequest.newBuilder()
          .setSessionId(s.getId()).setPageSize(2).setPageToken(token).build());
      page.getParticipantsList().forEach(p -> seen.add(p.getUserId()));
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(List.of("u0", "u1", "u2", "u3", "u4"), seen);
    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> a.listParticipants(ListParticipantsRequest
        .newBuilder().setSessionId(s.getId()).setPageToken("garbage!").build()));
  }

  // --- Presence and the automatic moves ---------------------------------------------------

  @Test
  void join_movesScheduledToWaiting_thenHostAndOneMoreToInProgress() {
    Session s = create();
    JoinSessionResponse first = a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    assertEquals(SessionStatus.SESSION_STATUS_WAITING, first.getSession().getStatus());
    assertTrue(first.getParticipant().getPresent());

    server.clock.advance(Duration.ofMinutes(2));
    JoinSessionResponse second = a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, second.getSession().getStatus());
    assertEquals(ProtoTime.timestamp(T0.plus(Duration.ofMinutes(2))), second.getSession().getStartTime());
    assertEquals(2, second.getSession().getPresentCount());
    assertEquals("IN_PROGRESS", server.jdbi().withHandle(h -> h.createQuery("SELECT status FROM sessions WHERE id = :id")
        .bind("id", s.getId()).mapTo(String.class).one()));
  }

  @Test
  void joinAndLeave_addUpConnectedTimeOverManyCycles() {
    Session s = create();
    JoinSessionRequest join = JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build();
    LeaveSessionRequest leave = LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build();
    Participant p = null;
    for (int i = 1; i <= 5; i++) {
      a.joinSession(join);
      // Joining again while present changes nothing.
      assertEquals(i, a.joinSession(join).getParticipant().getJoinCount());
      server.clock.advance(Duration.ofSeconds(10 * i));
      p = a.leaveSession(leave).getParticipant();
      server.clock.advance(Duration.ofSeconds(7));
    }
    assertEquals(Durations.fromSeconds(150), p.getConnectedDuration());
    assertEquals(5, p.getJoinCount());
    assertEquals(ProtoTime.timestamp(T0), p.getFirstJoinTime());
    assertEquals(150_000L, count("SELECT connected_ms FROM participants WHERE session_id = ? AND user_id = 'pat'", s.getId()));
  }

  @Test
  void leave_whenNotPresent_isFailedPrecondition_andUnknownUserIsNotFound() {
    Session s = create();
    assertStatus(Code.FAILED_PRECONDITION, "PARTICIPANT_NOT_PRESENT",
        () -> a.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build()));
    assertStatus(Code.NOT_FOUND, "PARTICIPANT_NOT_FOUND",
        () -> a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("stranger").build()));
  }

  @Test
  void join_whenFull_isResourceExhausted() {
    Session s = a.createSession(visit(ref(), T0)
        .setSettings(SessionSettings.newBuilder().setMaxParticipants(1)).build()).getSession();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
    assertStatus(Code.RESOURCE_EXHAUSTED, "SESSION_FULL",
        () -> a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build()));
  }

  @Test
  void join_endedSession_isFailedPrecondition() {
    Session s = create();
    a.markSessionFailed(MarkSessionFailedRequest.newBuilder().setSessionId(s.getId()).setReason("provider down").build());
    assertStatus(Code.FAILED_PRECONDITION, "SESSION_ENDED",
        () -> a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build()));
  }

  // --- Lifecycle --------------------------------------------------------------------------

  @Test
  void startThenEnd_completesWithDuration_andEveryoneLeaves() {
    Session s = create();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    Session started = a.startSession(StartSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, started.getStatus());
    server.clock.advance(Duration.ofMinutes(25));

    Session ended = a.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build()).getSession();

    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, ended.getStatus());
    assertEquals(Durations.fromMinutes(25), ended.getDuration());
    assertEquals(0, ended.getPresentCount());
    Participant pat = a.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(s.getId()).build())
        .getParticipantsList().stream().filter(p -> p.getUserId().equals("pat")).findFirst().orElseThrow();
    assertFalse(pat.getPresent());
    assertEquals(Durations.fromMinutes(25), pat.getConnectedDuration());
  }

  @Test
  void illegalTransitions_areFailedPreconditionWithReason() {
    Session s = create();
    StatusRuntimeException e = assertStatus(Code.FAILED_PRECONDITION, "INVALID_SESSION_TRANSITION",
        () -> a.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build()));
    assertEquals("SCHEDULED", dev.convene.server.testing.GrpcAssertions.errorInfo(e).getMetadataOrThrow("from"));

    a.startSession(StartSessionRequest.newBuilder().setSessionId(s.getId()).build());
    assertStatus(Code.FAILED_PRECONDITION, "INVALID_SESSION_TRANSITION", () -> a.cancelSession(
        CancelSessionRequest.newBuilder().setSessionId(s.getId()).setReason("too late").build()));
    assertStatus(Code.FAILED_PRECONDITION, "INVALID_SESSION_TRANSITION",
        () -> a.startSession(StartSessionRequest.newBuilder().setSessionId(s.getId()).build()));
    a.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build());
    assertStatus(Code.FAILED_PRECONDITION, "INVALID_SESSION_TRANSITION", () -> a.markSessionFailed(
        MarkSessionFailedRequest.newBuilder().setSessionId(s.getId()).setReason("late failure").build()));
  }

  @Test
  void cancelAndFail_keepTheirReason() {
    Session s1 = create();
    Session cancelled = a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s1.getId())
        .setReason("patient rebooked").build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_CANCELLED, cancelled.getStatus());
    assertEquals("patient rebooked", cancelled.getStatusReason());
    assertEquals(ProtoTime.timestamp(T0), cancelled.getEndTime());

    Session s2 = create();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s2.getId()).setUserId("dr").build());
    Session failed = a.markSessionFailed(MarkSessionFailedRequest.newBuilder().setSessionId(s2.getId())
        .setReason("media provider outage").build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_FAILED, failed.getStatus());
    assertEquals("media provider outage", failed.getStatusReason());

    StatusRuntimeException e = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(s1.getId()).build()));
    assertEquals(List.of("reason"), badFields(e));
  }

  // --- Events -----------------------------------------------------------------------------

  @Test
  void listSessionEvents_isOrderedAndResumable() {
    Session s = create();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
    a.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build());

    List<SessionEvent> all = a.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(s.getId()).build())
        .getEventsList();
    List<SessionEventType> types = all.stream().map(SessionEvent::getType).toList();
    assertEquals(List.of(
        SessionEventType.SESSION_EVENT_TYPE_SESSION_CREATED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED,
        SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED,
        SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT,
        SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT,
        SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED), types);
    for (int i = 1; i < all.size(); i++) {
      assertTrue(all.get(i).getSequence() > all.get(i - 1).getSequence());
    }
    SessionEvent last = all.get(all.size() - 1);
    assertEquals("COMPLETED", last.getPayload().getFieldsOrThrow("to").getStringValue());
    assertEquals("api_key:" + server.tenantA.keyId(), last.getActor());

    List<SessionEvent> paged = new ArrayList<>();
    String token = "";
    do {
      ListSessionEventsResponse page = a.listSessionEvents(ListSessionEventsRequest.newBuilder()
          .setSessionId(s.getId()).setPageSize(3).setPageToken(token).build());
      paged.addAll(page.getEventsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(all, paged);

    assertStatus(Code.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", () -> a.listSessionEvents(ListSessionEventsRequest
        .newBuilder().setSessionId(s.getId()).setPageToken(server.platform.pageTokens().encode(server.tenantA.tenantId(), "sessions",
            ListSessionsRequest.getDefaultInstance(), "2030-01-01T10:00:00Z", "ses_x")).build()));
    assertEquals(all.subList(5, all.size()), a.listSessionEvents(ListSessionEventsRequest.newBuilder()
        .setSessionId(s.getId()).setAfterSequence(all.get(4).getSequence()).build()).getEventsList());
  }

  // --- Statistics -------------------------------------------------------------------------

  @Test
  void getSessionStats_countsByStatusDurationAndNoShowRate() {
    var day = T0.plus(Duration.ofDays(500));
    // Two completed (10 and 20 minutes), one cancelled, one no-show, all hosted by "dr";
    // one completed session hosted by someone else.
    for (int minutes : new int[] {10, 20}) {
      Session s = a.createSession(visit(ref(), day).build()).getSession();
      a.startSession(StartSessionRequest.newBuilder().setSessionId(s.getId()).build());
      server.clock.advance(Duration.ofMinutes(minutes));
      a.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build());
    }
    Session c = a.createSession(visit(ref(), day).build()).getSession();
    a.cancelSession(CancelSessionRequest.newBuilder().setSessionId(c.getId()).setReason("rebooked").build());
    Session n = a.createSession(visit(ref(), day).build()).getSession();
    server.jdbi().useHandle(h -> h.execute("UPDATE sessions SET status = 'NO_SHOW' WHERE id = ?", n.getId()));
    Session other = a.createSession(visit(ref(), day).clearParticipants()
        .addParticipants(spec("dr-other", ParticipantRole.PARTICIPANT_ROLE_HOST)).build()).getSession();
    a.startSession(StartSessionRequest.newBuilder().setSessionId(other.getId()).build());
    server.clock.advance(Duration.ofMinutes(60));
    a.endSession(EndSessionRequest.newBuilder().setSessionId(other.getId()).build());

    GetSessionStatsRequest.Builder q = GetSessionStatsRequest.newBuilder()
        .setStartTime(ProtoTime.timestamp(day)).setEndTime(ProtoTime.timestamp(day.plus(Duration.ofDays(1))));
    GetSessionStatsResponse forDr = a.getSessionStats(q.setHostUserId("dr").build());
    assertEquals(4, forDr.getSessionCount());
    assertEquals(2, forDr.getCompletedCount());
    assertEquals(Durations.fromMinutes(30), forDr.getTotalDuration());
    assertEquals(Durations.fromMinutes(15), forDr.getAverageDuration());
    assertEquals(1.0 / 3.0, forDr.getNoShowRate(), 1e-9);
    assertTrue(forDr.getStatusCountsList().contains(StatusCount.newBuilder()
        .setStatus(SessionStatus.SESSION_STATUS_CANCELLED).setCount(1).build()));

    GetSessionStatsResponse tenant = a.getSessionStats(q.clearHostUserId().build());
    assertEquals(5, tenant.getSessionCount());
    assertEquals(Durations.fromMinutes(90), tenant.getTotalDuration());
    assertEquals(0, b.getSessionStats(q.build()).getSessionCount());

    StatusRuntimeException empty = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", () -> a.getSessionStats(
        GetSessionStatsRequest.newBuilder().setStartTime(ProtoTime.timestamp(day)).setEndTime(ProtoTime.timestamp(day)).build()));
    assertEquals(List.of("end_time"), badFields(empty));
    StatusRuntimeException missing = assertStatus(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT",
        () -> a.getSessionStats(GetSessionStatsRequest.newBuilder().setStartTime(ProtoTime.timestamp(day)).build()));
    assertEquals(List.of("end_time"), badFields(missing));
  }
}
