package dev.convene.server.event;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.convene.server.db.Database;
import dev.convene.server.testing.TestPostgres;
import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.Visits;
import dev.convene.v1.EventServiceGrpc;
import dev.convene.v1.JoinSessionRequest;
import dev.convene.v1.Session;
import dev.convene.v1.SessionServiceGrpc;
import dev.convene.v1.WatchEventsRequest;
import dev.convene.v1.WatchEventsResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Many writers on two replicas, one WatchEvents stream on the second: in every trial the stream
 * carries exactly the events committed after its start position, each once, in position order,
 * though transactions commit out of the order of their positions.
 */
class WatchRaceTest {
  static final int TRIALS = 200;
  static final int WRITERS = 4;

  @Test
  void concurrentWritersOnTwoReplicas_theStreamLosesAndRepeatsNothing() throws Exception {
    TestPostgres.Fresh db = TestPostgres.fresh(8);
    ExecutorService pool = Executors.newFixedThreadPool(WRITERS);
    int lost = 0;
    int repeated = 0;
    int outOfOrder = 0;
    int events = 0;
    try (TestServer a = new TestServer(db.database(), WatchTest.FAST);
        TestServer b = new TestServer(Database.open(db.url(), "", "", 8, Duration.ofSeconds(5)),
            WatchTest.settings(Duration.ofSeconds(1), 10_000, 100))) {
      String key = a.tenantA.key();
      List<SessionServiceGrpc.SessionServiceBlockingStub> writers = List.of(
          SessionServiceGrpc.newBlockingStub(a.channel).withCallCredentials(TestServer.bearer(key)),
          SessionServiceGrpc.newBlockingStub(b.channel).withCallCredentials(TestServer.bearer(key)));
      for (int trial = 0; trial < TRIALS; trial++) {
        String tenant = a.tenantA.tenantId();
        long before = a.jdbi().withHandle(h -> h.createQuery(
            "SELECT coalesce(max(position), 0) FROM events WHERE tenant_id = :t").bind("t", tenant)
            .mapTo(Long.class).one());
        WatchTest.Stream<WatchEventsResponse> stream = new WatchTest.Stream<>(false);
        EventServiceGrpc.newStub(b.channel).withCallCredentials(TestServer.bearer(key))
            .watchEvents(WatchEventsRequest.newBuilder().setAfterPosition(before).build(), WatchTest.cast(stream));
        CyclicBarrier go = new CyclicBarrier(WRITERS);
        List<Future<?>> done = new ArrayList<>();
        for (int w = 0; w < WRITERS; w++) {
          SessionServiceGrpc.SessionServiceBlockingStub stub = writers.get(w % 2);
          done.add(pool.submit(() -> {
            go.await();
            Session s = Visits.create(stub, TestServer.T0.plusSeconds(600));
            stub.joinSession(JoinSessionRequest.newBuilder().setSessionId(s.getId()).setUserId("dr").build());
            return null;
          }));
        }
        for (Future<?> f : done) {
          f.get(30, TimeUnit.SECONDS);
        }
        List<Long> expected = a.jdbi().withHandle(h -> h.createQuery(
            "SELECT position FROM events WHERE tenant_id = :t AND position > :before ORDER BY position")
            .bind("t", tenant).bind("before", before).mapTo(Long.class).list());
        List<Long> seen = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (seen.size() < expected.size() && System.nanoTime() < deadline) {
          WatchEventsResponse r = stream.messages.poll(100, TimeUnit.MILLISECONDS);
          if (r != null && r.hasEvent()) {
            seen.add(r.getEvent().getPosition());
          }
        }
        stream.call.cancel("trial over", null);
        Set<Long> got = new HashSet<>(seen);
        lost += (int) expected.stream().filter(p -> !got.contains(p)).count();
        repeated += seen.size() - got.size();
        for (int i = 1; i < seen.size(); i++) {
          if (seen.get(i) <= seen.get(i - 1)) {
            outOfOrder++;
          }
        }
        events += expected.size();
      }
    } finally {
      pool.shutdownNow();
    }
    System.out.printf("WatchRaceTest: %d trials, %d events, lost %d, repeated %d, out of order %d%n", TRIALS, events,
        lost, repeated, outOfOrder);
    assertEquals(0, lost, "events lost");
    assertEquals(0, repeated, "events repeated");
    assertEquals(0, outOfOrder, "events out of position order");
  }
}
