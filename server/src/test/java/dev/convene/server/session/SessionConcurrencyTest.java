package dev.convene.server.session;

import dev.convene.server.testing.TestServerExtension;
import org.junit.jupiter.api.extension.RegisterExtension;
import static dev.convene.server.session.SessionFixtures.spec;
import static dev.convene.server.session.SessionFixtures.stub;
import static dev.convene.server.session.SessionFixtures.visit;
import static dev.convene.server.testing.TestServer.T0;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.TestServer;
import dev.convene.v1.*;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Races joins, leaves and transitions on one session and checks nothing was lost. */
class SessionConcurrencyTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();
  TestServer server;
  SessionServiceGrpc.SessionServiceBlockingStub a;

  @BeforeEach
  void stubs() {
    server = servers.get();
    a = stub(server, server.tenantA.key());
  }

  @Test
  void concurrentJoinsLeavesAndTransitions_loseNoUpdate_andReachOnlyLegalStates() throws Exception {
    int users = 8;
    int cycles = 15;
    CreateSessionRequest.Builder req = visit("race", T0).clearParticipants();
    for (int u = 0; u < users; u++) {
      req.addParticipants(spec("u" + u, u == 0 ? ParticipantRole.PARTICIPANT_ROLE_HOST
          : ParticipantRole.PARTICIPANT_ROLE_PARTICIPANT));
    }
    String id = a.createSession(req.build()).getSession().getId();

    ExecutorService pool = Executors.newFixedThreadPool(users + 1);
    CountDownLatch go = new CountDownLatch(1);
    Map<String, AtomicInteger> joins = new ConcurrentHashMap<>();
    List<Future<?>> work = new ArrayList<>();
    for (int u = 0; u < users; u++) {
      String user = "u" + u;
      joins.put(user, new AtomicInteger());
      work.add(pool.submit(() -> {
        go.await();
        for (int c = 0; c < cycles; c++) {
          a.joinSession(JoinSessionRequest.newBuilder().setSessionId(id).setUserId(user).build());
          joins.get(user).incrementAndGet();
          a.leaveSession(LeaveSessionRequest.newBuilder().setSessionId(id).setUserId(user).build());
        }
        return null;
      }));
    }
    // Meanwhile someone keeps trying to start the session; exactly one StartSession or the
    // automatic move wins, every other attempt is an illegal transition.
    AtomicInteger illegal = new AtomicInteger();
    work.add(pool.submit(() -> {
      go.await();
      for (int i = 0; i < 20; i++) {
        try {
          a.startSession(StartSessionRequest.newBuilder().setSessionId(id).build());
        } catch (StatusRuntimeException e) {
          assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
          illegal.incrementAndGet();
        }
      }
      return null;
    }));
    go.countDown();
    for (Future<?> f : work) {
      f.get();
    }
    pool.shutdown();

    Session s = a.getSession(GetSessionRequest.newBuilder().setSessionId(id).build()).getSession();
    assertEquals(SessionStatus.SESSION_STATUS_IN_PROGRESS, s.getStatus());
    assertEquals(0, s.getPresentCount());
    List<Participant> roster = a.listParticipants(ListParticipantsRequest.newBuilder().setSessionId(id).build())
        .getParticipantsList();
    for (Participant p : roster) {
      assertEquals(cycles, p.getJoinCount(), p.getUserId());
      assertEquals(cycles, joins.get(p.getUserId()).get());
    }
    List<SessionEvent> events = new ArrayList<>();
    String token = "";
    do {
      ListSessionEventsResponse page = a.listSessionEvents(ListSessionEventsRequest.newBuilder().setSessionId(id)
          .setPageSize(500).setPageToken(token).build());
      events.addAll(page.getEventsList());
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertEquals(users * cycles, events.stream().filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED).count());
    assertEquals(users * cycles, events.stream().filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT).count());
    List<String> moves = events.stream().filter(e -> e.getType() == SessionEventType.SESSION_EVENT_TYPE_STATUS_CHANGED)
        .map(e -> e.getPayload().getFieldsOrThrow("from").getStringValue() + ">"
            + e.getPayload().getFieldsOrThrow("to").getStringValue()).toList();
    // Either SCHEDULED>WAITING>IN_PROGRESS (a join got there first) or SCHEDULED>IN_PROGRESS.
    assertTrue(moves.equals(List.of("SCHEDULED>WAITING", "WAITING>IN_PROGRESS"))
        || moves.equals(List.of("SCHEDULED>IN_PROGRESS")), moves.toString());
    // At most one StartSession wins; none does when a join moved the session first.
    assertTrue(illegal.get() == 19 || illegal.get() == 20, "illegal starts: " + illegal.get());
    // Presence replayed from the event log matches the stored rows: no lost update.
    int present = 0;
    for (SessionEvent e : events) {
      if (e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_JOINED) {
        present++;
      } else if (e.getType() == SessionEventType.SESSION_EVENT_TYPE_PARTICIPANT_LEFT) {
        present--;
      }
      assertTrue(present >= 0 && present <= users);
    }
    assertEquals(0, present);
  }
}
