package dev.convene.server.session;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.util.Durations;
import dev.convene.server.grpc.ProtoTime;
import dev.convene.server.platform.JobRunner;
import dev.convene.server.testing.TestServer;
import dev.convene.v1.*;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The no-show and empty-timeout job, alone and as several replicas at once. */
class SessionJobsTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();
  TestServer server;
  SessionServiceGrpc.SessionServiceBlockingStub a;

  @BeforeEach
  void stubs() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
  }

  private Session get(String id) {
    return a.getSession(GetSessionRequest.newBuilder().setSessionId(id).build()).getSession();
  }

  @Test
  void noShow_afterGrace_recordsRolesThatNeverJoined() {
    Session waiting = a.createSession(visit("w", T0).setSettings(SessionSettings.newBuilder()
        .setNoShowGrace(Durations.fromMinutes(10))).build()).getSession();
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(waiting.getId()).setUserId("pat").build());
    Session later = a.createSession(visit("later", T0.plus(Duration.ofHours(2))).build()).getSession();
    JobRunner jobs = server.jobs();

    server.clock.advance(Duration.ofMinutes(9));
    assertEquals(0, jobs.runOnce());
    assertEquals(SessionStatus.SESSION_STATUS_WAITING, get(waiting.getId()).getStatus());

    server.clock.advance(Duration.ofMinutes(1));
    assertEquals(1, jobs.runOnce());

    Session noShow = get(waiting.getId());
    assertEquals(SessionStatus.SESSION_STATUS_NO_SHOW, noShow.getStatus());
    assertEquals(List.of(ParticipantRole.PARTICIPANT_ROLE_HOST), noShow.getMissingRolesList());
    assertEquals(0, noShow.getPresentCount());
    assertEquals(SessionStatus.SESSION_STATUS_SCHEDULED, get(later.getId()).getStatus());
    SessionEvent last = lastEvent(waiting.getId());
    assertEquals("system:job:session.no_show", last.getActor());
    assertEquals("HOST", last.getPayload().getFieldsOrThrow("missing_roles").getListValue().getValues(0).getStringValue());
  }

  @Test
  void emptyTimeout_completesInProgressSession_endingWhenTheLastOneLeft() {
    Session s = a.createSession(visit("e", T0).setSettings(SessionSettings.newBuilder()
        .setEmptyTimeout(Durations.fromMinutes(3))).build()).getSession();
    for (String u : List.of("dr", "pat")) {
      a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(u).build());
    }
    server.clock.advance(Duration.ofMinutes(20));
    for (String u : List.of("dr", "pat")) {
      a.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId(u).build());
    }
    JobRunner jobs = server.jobs();
    server.clock.advance(Duration.ofMinutes(2));
    jobs.runOnce();
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, get(s.getId()).getStatus());

    // Someone comes back and leaves again: the timeout starts over.
    a.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    server.clock.advance(Duration.ofMinutes(1));
    a.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("pat").build());
    server.clock.advance(Duration.ofMinutes(2));
    jobs.runOnce();
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, get(s.getId()).getStatus());
    server.clock.advance(Duration.ofMinutes(1));
    assertEquals(1, jobs.runOnce());

    Session done = get(s.getId());
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, done.getStatus());
    assertEquals(ProtoTime.timestamp(T0.plus(Duration.ofMinutes(23))), done.getEndTime());
    assertEquals(Durations.fromMinutes(23), done.getDuration());
  }

  @Test
  void emptyTimeout_alsoCompletesASessionStartedWithNobodyPresent() {
    Session s = a.createSession(visit("started-empty", T0).setSettings(SessionSettings.newBuilder()
        .setEmptyTimeout(Durations.fromMinutes(5))).build()).getSession();
    a.startSession(StartSessionRequest.newBuilder().setSessionId(s.getId()).build());
    JobRunner jobs = server.jobs();
    server.clock.advance(Duration.ofMinutes(4));
    assertEquals(0, jobs.runOnce());
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, get(s.getId()).getStatus());
    server.clock.advance(Duration.ofMinutes(1));
    assertEquals(1, jobs.runOnce());
    assertEquals(SessionStatus.SESSION_STATUS_COMPLETED, get(s.getId()).getStatus());
  }

  @Test
  void severalReplicasRunningTheJob_moveEachSessionExactlyOnce() throws Exception {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 250; i++) {
      ids.add(a.createSession(visit("r" + i, T0).clearParticipants().build()).getSession().getId());
    }
    server.clock.advance(Duration.ofHours(1));
    int replicas = 4;
    ExecutorService pool = Executors.newFixedThreadPool(replicas);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<Integer>> moved = new ArrayList<>();
    for (int r = 0; r < replicas; r++) {
      JobRunner jobs = server.jobs();
      Callable<Integer> run = () -> {
        go.await();
        return jobs.runOnce();
      };
      moved.add(pool.submit(run));
    }
    go.countDown();
    int total = 0;
    for (Future<Integer> f : moved) {
      total += f.get();
    }
    pool.shutdown();

    assertEquals(250, total);
    long statusEvents = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM events WHERE type = 'STATUS_CHANGED'").mapTo(Long.class).one());
    assertEquals(250, statusEvents);
    for (String id : ids) {
      assertEquals(SessionStatus.SESSION_STATUS_NO_SHOW, get(id).getStatus());
    }
  }

  private SessionEvent lastEvent(String id) {
    List<SessionEvent> events = a.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(id).build())
        .getEventsList();
    return events.get(events.size() - 1);
  }
}
