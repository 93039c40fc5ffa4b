package dev.convene.server.event;

import static dev.convene.server.testing.GrpcAssertions.errorInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.convene.server.Main;
import dev.convene.server.credential.CredentialFeature;
import dev.convene.server.db.Database;
import dev.convene.server.presence.PresenceFeature;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.EndSessionRequest;
import dev.convene.v1.EventServiceGrpc;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.LeaveSessionRequest;
import dev.convene.v1.ListSessionEventsRequest;
import dev.convene.v1.Session;
import dev.convene.v1.SessionEvent;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.WatchEventsRequest;
import dev.convene.v1.WatchEventsResponse;
import dev.convene.v1.WatchSessionRequest;
import dev.convene.v1.WatchSessionResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * WatchSession and WatchEvents over the real server and PostgreSQL: replay then live, resuming,
 * access, filters and heartbeats, a client too slow to keep up, and a second replica on the same
 * database.
 */
class WatchTest {
  static final Main.FeatureSettings FAST = settings(Duration.ofMillis(300), 50, 1000);

  TestServer server;
  SessionServiceGrpc.SessionServiceBlockingStub sessions;

  static Main.FeatureSettings settings(Duration heartbeat, int buffer, int maxStreams) {
    Main.FeatureSettings d = Main.FeatureSettings.defaults();
    return new Main.FeatureSettings(PresenceFeature.Settings.defaults(), d.inviteBaseUrl(),
        new EventFeature.Settings(heartbeat, buffer, maxStreams), d.webhooks());
  }

  @BeforeEach
  void start() {
    server = new TestServer(TestPostgres.freshDatabase(8), FAST);
    sessions = SessionServiceGrpc.newBlockingStub(server.channel).withCallCredentials(TestServer.bearer(server.tenantA.key()));
  }

  @AfterEach
  void stop() {
    server.close();
  }

  /** A stream's messages and its end, as a client sees them. */
  static final class Stream<T> implements ClientResponseObserver<Object, T> {
    final LinkedBlockingQueue<T> messages = new LinkedBlockingQueue<>();
    final CompletableFuture<Status> end = new CompletableFuture<>();
    volatile StatusRuntimeException error;
    final boolean manual;
    ClientCallStreamObserver<Object> call;

    Stream(boolean manual) {
      this.manual = manual;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Object> call) {
      this.call = call;
      if (manual) {
        call.disableAutoRequestWithInitial(1);
      }
    }

    @Override
    public void onNext(T value) {
      messages.add(value);
    }

    @Override
    public void onError(Throwable t) {
      error = (StatusRuntimeException) t;
      end.complete(Status.fromThrowable(t));
    }

    @Override
    public void onCompleted() {
      end.complete(Status.OK);
    }

    T next() throws InterruptedException {
      T m = messages.poll(10, TimeUnit.SECONDS);
      if (m == null) {
        fail("no message within 10 s; stream end: " + end.getNow(null));
      }
      return m;
    }

    Status awaitEnd() throws Exception {
      return end.get(10, TimeUnit.SECONDS);
    }

    /** The ErrorInfo reason the stream ended with. */
    String reason() throws Exception {
      awaitEnd();
      return errorInfo(error).getReason();
    }
  }

  EventServiceGrpc.EventServiceStub events(String credential) {
    return EventServiceGrpc.newStub(server.channel).withCallCredentials(TestServer.bearer(credential));
  }

  Stream<WatchSessionResponse> watch(String credential, String sessionId, long after) {
    Stream<WatchSessionResponse> s = new Stream<>(false);
    events(credential).watchSession(WatchSessionRequest.newBuilder().setSessionId(sessionId).setAfterSequence(after)
        .build(), cast(s));
    return s;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static <T> io.grpc.stub.StreamObserver<T> cast(Stream<?> s) {
    return (io.grpc.stub.StreamObserver) s;
  }

  /** The next event of a WatchSession stream, skipping heartbeats; fails after 10 s of heartbeats only. */
  static SessionEvent nextEvent(Stream<WatchSessionResponse> s) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      WatchSessionResponse r = s.next();
      if (r.hasEvent()) {
        return r.getEvent();
      }
    }
    return fail("only heartbeats for 10 s");
  }

  List<SessionEvent> logOf(String sessionId) {
    return sessions.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(sessionId).setPageSize(500)
        .build()).getEventsList();
  }

  void join(String sessionId, String user) {
    sessions.joinSession(JoinSessionRequest.newBuilder().setSessionId(sessionId).setUserId(user).build());
  }

  void leave(String sessionId, String user) {
    sessions.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(sessionId).setUserId(user).build());
  }

  Session visit() {
    return Visits.create(sessions, TestServer.T0.plusSeconds(600));
  }

  String userCredential(String user) {
    return new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), user, Duration.ofHours(1))
        .getCredential();
  }

  @Test
  void watchSession_replaysThenFollowsLive_andEndsWithTheSession() throws Exception {
    Session s = visit();
    join(s.getId(), "dr");
    Stream<WatchSessionResponse> stream = watch(server.tenantA.key(), s.getId(), 0);
    List<SessionEvent> seen = new ArrayList<>();
    int before = logOf(s.getId()).size();
    for (int i = 0; i < before; i++) {
      seen.add(nextEvent(stream));
    }
    join(s.getId(), "pat");
    seen.add(nextEvent(stream));
    assertEquals("SESSION_EVENT_TYPE_PARTICIPANT_JOINED", seen.get(seen.size() - 1).getType().name());
    leave(s.getId(), "pat");
    sessions.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build());

    assertEquals(Status.Code.OK, stream.awaitEnd().getCode(), "the stream ends with the session");
    stream.messages.stream().filter(WatchSessionResponse::hasEvent).forEach(r -> seen.add(r.getEvent()));
    assertEquals(logOf(s.getId()), seen, "the stream carried the session's log, in order, once each");
  }

  @Test
  void watchSession_killedMidwayAndResumed_missesNothing() throws Exception {
    Session s = visit();
    Stream<WatchSessionResponse> first = watch(server.tenantA.key(), s.getId(), 0);
    List<SessionEvent> seen = new ArrayList<>();
    seen.add(nextEvent(first));
    join(s.getId(), "dr");
    join(s.getId(), "pat");
    seen.add(nextEvent(first));
    first.call.cancel("the app went to the background", null);
    leave(s.getId(), "pat");
    join(s.getId(), "pat");

    Stream<WatchSessionResponse> resumed = watch(server.tenantA.key(), s.getId(), seen.get(seen.size() - 1).getSequence());
    sessions.endSession(EndSessionRequest.newBuilder().setSessionId(s.getId()).build());
    assertEquals(Status.Code.OK, resumed.awaitEnd().getCode());
    resumed.messages.stream().filter(WatchSessionResponse::hasEvent).forEach(r -> seen.add(r.getEvent()));
    assertEquals(logOf(s.getId()), seen);
  }

  @Test
  void watchSession_ofAnEndedSession_replaysAndEnds() throws Exception {
    Session s = visit();
    sessions.cancelSession(dev.convene.v1.CancelSessionRequest.newBuilder().setSessionId(s.getId())
        .setReason("rescheduled").build());
    Stream<WatchSessionResponse> stream = watch(server.tenantA.key(), s.getId(), 0);
    assertEquals(Status.Code.OK, stream.awaitEnd().getCode());
    assertEquals(logOf(s.getId()), stream.messages.stream().filter(WatchSessionResponse::hasEvent)
        .map(WatchSessionResponse::getEvent).toList());
    Stream<WatchSessionResponse> caughtUp = watch(server.tenantA.key(), s.getId(), 1000);
    assertEquals(Status.Code.OK, caughtUp.awaitEnd().getCode(), "nothing after the end: ends at once");
  }

  @Test
  void watchSession_isForTheRosterAndTheGuestOfThatSessionOnly() throws Exception {
    Session s = visit();
    Session other = visit();
    Stream<WatchSessionResponse> patient = watch(userCredential("pat"), s.getId(), 0);
    assertEquals("SESSION_EVENT_TYPE_SESSION_CREATED", nextEvent(patient).getType().name());
    join(s.getId(), "dr");
    SessionEvent joined;
    do {
      joined = nextEvent(patient);
    } while (joined.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED);
    assertEquals("dr", joined.getPayload().getFieldsOrThrow("user_id").getStringValue(), "the doctor has joined");

    String guestOfOther = new CredentialFeature(server.platform).issuer().guest(server.tenantA.tenantId(), other.getId(),
        "pat", TestServer.T0.plusSeconds(7200)).getCredential();
    for (String credential : List.of(userCredential("eve"), guestOfOther, server.tenantB.key())) {
      Stream<WatchSessionResponse> refused = watch(credential, s.getId(), 0);
      assertEquals(Status.Code.NOT_FOUND, refused.awaitEnd().getCode());
      assertEquals("SESSION_NOT_FOUND", refused.reason());
    }
    Status userOnEvents = watchEvents(userCredential("pat"), WatchEventsRequest.newBuilder().build()).awaitEnd();
    assertEquals(Status.Code.PERMISSION_DENIED, userOnEvents.getCode(), "the tenant-wide stream is the backend's");
  }

  @Test
  void aUsersStream_endsWhenItsCredentialExpires() throws Exception {
    Session s = visit();
    String credential = new CredentialFeature(server.platform).issuer().user(server.tenantA.tenantId(), "pat",
        Duration.ofMinutes(10)).getCredential();
    Stream<WatchSessionResponse> stream = watch(credential, s.getId(), 0);
    nextEvent(stream);
    server.clock.advance(Duration.ofMinutes(11));
    assertEquals(Status.Code.UNAUTHENTICATED, stream.awaitEnd().getCode());
    assertEquals("CREDENTIAL_EXPIRED", stream.reason());
  }

  @Test
  void aStream_endsWhenItsApiKeyOrUserCredentialsAreRevoked() throws Exception {
    Session s = visit();
    var tenants = new dev.convene.server.auth.Tenants(server.jdbi(), server.clock, dev.convene.server.platform.IdGenerator.random());
    var second = tenants.createKey(server.tenantA.tenantId());
    Stream<WatchEventsResponse> backend = watchEvents(second.key(), WatchEventsRequest.newBuilder().setStartAtEnd(true).build());
    Stream<WatchSessionResponse> patient = watch(userCredential("pat"), s.getId(), 0);
    Stream<WatchSessionResponse> doctor = watch(userCredential("dr"), s.getId(), 0);
    assertTrue(backend.next().hasHeartbeat());
    nextEvent(patient);
    nextEvent(doctor);

    assertTrue(tenants.revokeKey(second.keyId()));
    assertEquals(Status.Code.UNAUTHENTICATED, backend.awaitEnd().getCode(), "within a heartbeat of the revocation");
    assertEquals("CREDENTIAL_REVOKED", backend.reason());

    dev.convene.v1.CredentialServiceGrpc.newBlockingStub(server.channel)
        .withCallCredentials(TestServer.bearer(server.tenantA.key()))
        .revokeUserCredentials(dev.convene.v1.RevokeUserCredentialsRequest.newBuilder().setUserId("pat").build());
    assertEquals(Status.Code.UNAUTHENTICATED, patient.awaitEnd().getCode());
    assertEquals("CREDENTIAL_REVOKED", patient.reason());

    join(s.getId(), "dr");
    SessionEvent e;
    do {
      e = nextEvent(doctor);
    } while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED);
    assertTrue(!doctor.end.isDone(), "another user's stream goes on");
  }

  @Test
  void aUserTakenOffTheRoster_seesTheRemoval_thenTheStreamEnds_butOneAddedBackMayReplayIt() throws Exception {
    Session s = visit();
    Stream<WatchSessionResponse> patient = watch(userCredential("pat"), s.getId(), 0);
    nextEvent(patient);
    sessions.removeParticipant(dev.convene.v1.RemoveParticipantRequest.newBuilder().setSessionId(s.getId())
        .setUserId("pat").build());
    SessionEvent e;
    do {
      e = nextEvent(patient);
    } while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_REMOVED);
    assertEquals(Status.Code.NOT_FOUND, patient.awaitEnd().getCode(), "a stranger to the session now");
    assertEquals("SESSION_NOT_FOUND", patient.reason());

    sessions.addParticipant(dev.convene.v1.AddParticipantRequest.newBuilder().setSessionId(s.getId())
        .setParticipant(dev.convene.v1.ParticipantSpec.newBuilder().setUserId("pat")
            .setRole(dev.convene.v1.ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT)).build());
    Stream<WatchSessionResponse> again = watch(userCredential("pat"), s.getId(), 0);
    do {
      e = nextEvent(again);
    } while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_REMOVED);
    do {
      e = nextEvent(again);
    } while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_ADDED);
    join(s.getId(), "dr");
    do {
      e = nextEvent(again);
    } while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED);
    assertTrue(!again.end.isDone(), "the old removal, replayed, did not end the stream: " + again.end.getNow(null));
  }

  Stream<WatchEventsResponse> watchEvents(String credential, WatchEventsRequest req) {
    Stream<WatchEventsResponse> s = new Stream<>(false);
    events(credential).watchEvents(req, cast(s));
    return s;
  }

  @Test
  void watchEvents_filtersByType_andHeartbeatsCarryThePositionPassed() throws Exception {
    Session s = visit();
    Stream<WatchEventsResponse> stream = watchEvents(server.tenantA.key(), WatchEventsRequest.newBuilder()
        .setStartAtEnd(true).addTypes("PARTICIPANT_JOINED").addAggregateTypes("session").build());
    // The call is asynchronous: "from now" is when the server took it. Its first heartbeat says it has.
    assertTrue(stream.next().hasHeartbeat(), "nothing but heartbeats before the changes");
    join(s.getId(), "dr");
    leave(s.getId(), "dr");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    WatchEventsResponse first = stream.next();
    while (first.hasHeartbeat() && System.nanoTime() < deadline) {
      first = stream.next();
    }
    assertEquals("PARTICIPANT_JOINED", first.getEvent().getType());
    assertEquals(s.getId(), first.getEvent().getAggregateId());
    List<SessionEvent> log = logOf(s.getId());
    long leftAt = log.get(log.size() - 1).getPosition();
    assertEquals("SESSION_EVENT_TYPE_PARTICIPANT_LEFT", log.get(log.size() - 1).getType().name());
    assertEquals(log.stream().filter(e -> e.getType().name().endsWith("PARTICIPANT_JOINED")).findFirst().orElseThrow()
        .getPosition(), first.getEvent().getPosition());
    WatchEventsResponse next = stream.next();
    assertTrue(next.hasHeartbeat(), "the LEFT event is passed over: " + next);
    while (next.getHeartbeat().getPosition() < leftAt && System.nanoTime() < deadline) {
      next = stream.next();
      assertTrue(next.hasHeartbeat(), "only heartbeats follow: " + next);
    }
    assertEquals(leftAt, next.getHeartbeat().getPosition(), "resuming from the heartbeat skips only what was passed over");
  }

  @Test
  void watchEvents_fromZero_replaysTheTenantsLogInPositionOrder() throws Exception {
    Session a = visit();
    join(a.getId(), "dr");
    Session b = visit();
    Stream<WatchEventsResponse> stream = watchEvents(server.tenantA.key(), WatchEventsRequest.newBuilder().build());
    List<Long> expected = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT position FROM events WHERE tenant_id = :t ORDER BY position").bind("t", server.tenantA.tenantId())
        .mapTo(Long.class).list());
    List<Long> seen = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (seen.size() < expected.size() && System.nanoTime() < deadline) {
      WatchEventsResponse r = stream.next();
      if (r.hasEvent()) {
        seen.add(r.getEvent().getPosition());
      }
    }
    assertEquals(expected, seen);
    assertTrue(expected.size() >= 3, "both sessions' events: " + b.getId());
  }

  @Test
  void aClientThatStopsReading_isEndedWithResourceExhausted() throws Exception {
    Session s = visit();
    Stream<WatchSessionResponse> slow = new Stream<>(true);
    events(server.tenantA.key()).watchSession(WatchSessionRequest.newBuilder().setSessionId(s.getId()).build(),
        cast(slow));
    Stream<WatchSessionResponse> fast = watch(server.tenantA.key(), s.getId(), 0);
    for (int i = 0; i < 40; i++) {
      join(s.getId(), "dr");
      leave(s.getId(), "dr");
    }
    // A client sees a stream's end after the messages already sent to it: it reads on.
    slow.call.request(1000);
    Status end = slow.awaitEnd();
    assertEquals(Status.Code.RESOURCE_EXHAUSTED, end.getCode());
    assertEquals("STREAM_CONSUMER_TOO_SLOW", slow.reason());
    List<Long> got = slow.messages.stream().filter(WatchSessionResponse::hasEvent).map(r -> r.getEvent().getSequence())
        .toList();
    assertEquals(java.util.stream.LongStream.rangeClosed(1, got.size()).boxed().toList(), got,
        "what it got is the log's beginning, so it can resume after its last sequence");
    assertTrue(got.size() < 10, "the server stopped sending when it stopped reading: " + got.size());
    int events = logOf(s.getId()).size();
    int received = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (received < events && System.nanoTime() < deadline) {
      if (fast.next().hasEvent()) {
        received++;
      }
    }
    assertEquals(events, received, "the client that keeps up got every event");
    assertTrue(fast.end.getNow(null) == null, "a client that keeps up is not disconnected");
  }

  @Test
  void aStreamOnOneReplica_seesChangesMadeOnAnother() throws Exception {
    TestPostgres.Fresh db = TestPostgres.fresh(4);
    // A long heartbeat: replica B's periodic re-read cannot be what delivers the change; NOTIFY is.
    try (TestServer a = new TestServer(db.database(), FAST);
        TestServer b = new TestServer(Database.open(db.url(), "", "", 4, Duration.ofSeconds(5)),
            settings(Duration.ofMinutes(5), 50, 100))) {
      var onA = SessionServiceGrpc.newBlockingStub(a.channel).withCallCredentials(TestServer.bearer(a.tenantA.key()));
      Session s = Visits.create(onA, TestServer.T0.plusSeconds(600));
      Stream<WatchSessionResponse> onB = new Stream<>(false);
      EventServiceGrpc.newStub(b.channel).withCallCredentials(TestServer.bearer(a.tenantA.key()))
          .watchSession(WatchSessionRequest.newBuilder().setSessionId(s.getId()).build(), cast(onB));
      assertEquals("SESSION_EVENT_TYPE_SESSION_CREATED", nextEvent(onB).getType().name());
      long start = System.nanoTime();
      onA.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
      SessionEvent e = nextEvent(onB);
      while (e.getType() != dev.convene.v1.SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED) {
        e = nextEvent(onB);
      }
      assertNotNull(e);
      assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
    }
  }

  @Test
  void shuttingDown_endsStreamsWithUnavailable_soClientsResumeElsewhere() throws Exception {
    Session s = visit();
    Stream<WatchSessionResponse> stream = watch(server.tenantA.key(), s.getId(), 0);
    nextEvent(stream);
    server.shutdown(Duration.ZERO, Duration.ofSeconds(5));
    assertEquals(Status.Code.UNAVAILABLE, stream.awaitEnd().getCode());
    assertEquals("SERVER_SHUTTING_DOWN", stream.reason());
  }

  @Test
  void beyondTheStreamLimit_RESOURCE_EXHAUSTED() throws Exception {
    try (TestServer small = new TestServer(TestPostgres.freshDatabase(4), settings(Duration.ofSeconds(5), 50, 2))) {
      var stub = EventServiceGrpc.newStub(small.channel).withCallCredentials(TestServer.bearer(small.tenantA.key()));
      List<Stream<WatchEventsResponse>> open = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        Stream<WatchEventsResponse> s = new Stream<>(false);
        stub.watchEvents(WatchEventsRequest.newBuilder().setStartAtEnd(true).build(), cast(s));
        open.add(s);
      }
      // The three open concurrently: any one of them is refused.
      CompletableFuture.anyOf(open.stream().map(o -> o.end).toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
      Thread.sleep(300);
      List<Stream<WatchEventsResponse>> refused = open.stream().filter(o -> o.end.isDone()).toList();
      assertEquals(1, refused.size());
      assertEquals(Status.Code.RESOURCE_EXHAUSTED, refused.get(0).awaitEnd().getCode());
      assertEquals("TOO_MANY_STREAMS", refused.get(0).reason());
      open.stream().filter(o -> !o.end.isDone()).findFirst().orElseThrow().call.cancel("done", null);
      // The cancellation reaches the server asynchronously: a closed stream's permit comes back soon.
      Status lastEnd = null;
      for (int attempt = 0; attempt < 50; attempt++) {
        Stream<WatchEventsResponse> again = new Stream<>(false);
        stub.watchEvents(WatchEventsRequest.newBuilder().setStartAtEnd(true).build(), cast(again));
        try {
          lastEnd = again.end.get(200, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException stillOpen) {
          return;
        }
      }
      fail("no stream could open after one was cancelled; last: " + lastEnd);
    }
  }
}
