package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A follower of the tenant-wide position sees every event exactly once, however commits interleave. */
class EventLogFollowTest {
  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();
  TestServer server;
  UnitOfWork uow;
  EventLog log;
  String tenant;

  @BeforeEach
  void setUp() {
    server = servers.get();
    uow = server.platform.uow();
    log = server.platform.events();
    tenant = server.tenantA.tenantId();
  }

  private static void sleepMillis(int ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Takes the transaction's id now, so it is older than transactions that start after it. */
  private static void takeTransactionId(Tx tx) {
    tx.handle().createQuery("SELECT pg_current_xact_id()::text").mapTo(String.class).one();
  }

  @Test
  void anEventCommittedLate_isNotSkipped_laterEventsWaitForIt() throws Exception {
    CountDownLatch appended = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    // A: an older transaction that appends and then stays open.
    Future<?> a = pool.submit(() -> uow.write(tenant, "test", tx -> {
      takeTransactionId(tx);
      tx.append("test", "a", "APPENDED", Map.of());
      tx.flush();
      appended.countDown();
      try {
        release.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return null;
    }));
    assertTrue(appended.await(10, TimeUnit.SECONDS));
    // B: a younger transaction that commits first.
    uow.write(tenant, "test", tx -> {
      tx.append("test", "b", "APPENDED", Map.of());
      return null;
    });

    // A plain "position > N" reader would see B now and then never see A: A's position is lower.
    List<Long> naive = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT position FROM events WHERE tenant_id = :t AND aggregate_type = 'test' ORDER BY position")
        .bind("t", tenant).mapTo(Long.class).list());
    assertEquals(1, naive.size());
    // The follower holds B back while A is in flight.
    assertEquals(List.of(), log.follow(tenant, 0, 100));

    release.countDown();
    a.get(10, TimeUnit.SECONDS);
    pool.shutdown();
    List<EventRow> rows = log.follow(tenant, 0, 100);
    assertEquals(List.of("a", "b"), rows.stream().map(EventRow::aggregateId).toList());
    assertTrue(rows.get(0).position() < rows.get(1).position());
  }

  @Test
  void followerSeesEveryEventExactlyOnce_whileManyTransactionsCommitOutOfOrder() throws Exception {
    int writers = 8;
    int transactions = 60;
    ExecutorService pool = Executors.newFixedThreadPool(writers + 1);
    AtomicBoolean writing = new AtomicBoolean(true);
    List<Future<?>> work = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      String aggregate = "w" + w;
      work.add(pool.submit(() -> {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int t = 0; t < transactions; t++) {
          uow.write(tenant, "test", tx -> {
            // Some take their transaction id early and commit late, some the other way round.
            if (random.nextBoolean()) {
              takeTransactionId(tx);
            }
            sleepMillis(random.nextInt(3));
            int events = 1 + random.nextInt(3);
            for (int e = 0; e < events; e++) {
              tx.append("test", aggregate, "APPENDED", Map.of());
            }
            tx.flush();
            sleepMillis(random.nextInt(3));
            return null;
          });
        }
        return null;
      }));
    }
    Future<List<EventRow>> follower = pool.submit(() -> {
      List<EventRow> seen = new ArrayList<>();
      long last = 0;
      boolean drained = false;
      while (!drained) {
        boolean stillWriting = writing.get();
        List<EventRow> page = log.follow(tenant, last, 50);
        for (EventRow row : page) {
          assertTrue(row.position() > last);
          last = row.position();
          seen.add(row);
        }
        drained = !stillWriting && page.isEmpty();
      }
      return seen;
    });
    for (Future<?> f : work) {
      f.get(120, TimeUnit.SECONDS);
    }
    writing.set(false);
    List<EventRow> seen = follower.get(60, TimeUnit.SECONDS);
    pool.shutdown();

    List<Long> stored = server.jdbi().withHandle(h -> h.createQuery(
        "SELECT position FROM events WHERE tenant_id = :t AND aggregate_type = 'test' ORDER BY position")
        .bind("t", tenant).mapTo(Long.class).list());
    Set<Long> seenPositions = new HashSet<>();
    int duplicates = 0;
    for (EventRow row : seen) {
      if (!seenPositions.add(row.position())) {
        duplicates++;
      }
    }
    assertTrue(stored.size() >= writers * transactions);
    assertEquals(0, duplicates, "events seen twice");
    assertEquals(stored.size() - seen.size(), stored.stream().filter(p -> !seenPositions.contains(p)).count());
    assertEquals(0, stored.size() - seen.size(), "events the follower skipped, of " + stored.size());
    // Per aggregate, the sequence is 1, 2, 3, ... in position order.
    for (int w = 0; w < writers; w++) {
      String aggregate = "w" + w;
      List<Long> seqs = seen.stream().filter(r -> r.aggregateId().equals(aggregate)).map(EventRow::aggregateSeq).toList();
      for (int i = 0; i < seqs.size(); i++) {
        assertEquals(i + 1, seqs.get(i), aggregate);
      }
    }
  }
}
