package dev.convene.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.convene.server.testing.TestServer;
import dev.convene.server.testing.TestServerExtension;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The job runner: one bad row cannot block the rest, retries back off, parks, survives throwables, drains. */
class JobRunnerTest {
  static final String KIND = "test.work";

  @RegisterExtension
  final TestServerExtension servers = new TestServerExtension();
  TestServer server;
  String tenant;
  final Set<String> ran = ConcurrentHashMap.newKeySet();

  @BeforeEach
  void setUp() {
    server = servers.get();
    tenant = server.tenantA.tenantId();
  }

  /** Records each subject it runs and fails for subjects starting with "bad" (an exception) or "err" (an Error). */
  final class Recorder implements JobHandler {
    @Override
    public String kind() {
      return KIND;
    }

    @Override
    public void run(Tx tx, String subjectId) {
      if (subjectId.startsWith("bad")) {
        throw new IllegalStateException("cannot do " + subjectId);
      }
      if (subjectId.startsWith("err")) {
        throw new AssertionError("worse than an exception");
      }
      tx.append("test", subjectId, "DONE", Map.of());
      ran.add(subjectId);
    }
  }

  /** A handler of {@link #KIND} that runs {@code run}. */
  static JobHandler handler(java.util.function.BiConsumer<Tx, String> run) {
    return new JobHandler() {
      @Override
      public String kind() {
        return KIND;
      }

      @Override
      public void run(Tx tx, String subjectId) {
        run.accept(tx, subjectId);
      }
    };
  }

  private void schedule(UnitOfWork uow, String subject, Instant due) {
    uow.write(tenant, "test", tx -> {
      tx.schedule(KIND, subject, due);
      return null;
    });
  }

  private Map<String, Object> row(String subject) {
    return server.jdbi().withHandle(h -> h.createQuery(
            "SELECT attempts, last_error, parked_time, due_time FROM jobs WHERE tenant_id = :t AND kind = :k AND subject_id = :s")
        .bind("t", tenant).bind("k", KIND).bind("s", subject).mapToMap().findOne().orElse(null));
  }

  @Test
  void aFailingJob_doesNotHoldUpTheOthers_isRetriedWithBackoff_thenParkedWithItsError() {
    UnitOfWork uow = server.platform.uow();
    JobRunner runner = new JobRunner(uow, List.of(new Recorder()),
        new JobRunner.Settings(4, Duration.ofMinutes(1), 3, Duration.ofSeconds(10), Duration.ofMinutes(5)));
    Instant now = server.clock.instant();
    schedule(uow, "bad-1", now);
    for (int i = 0; i < 10; i++) {
      schedule(uow, "good-" + i, now);
    }

    assertEquals(10, runner.runOnce());
    assertEquals(10, ran.size());
    Map<String, Object> bad = row("bad-1");
    assertEquals(1, bad.get("attempts"));
    assertTrue(((String) bad.get("last_error")).contains("cannot do bad-1"));
    assertNull(bad.get("parked_time"));
    Instant retryAt = ((java.sql.Timestamp) bad.get("due_time")).toInstant();
    // Backoff with jitter: between half and all of the first backoff.
    assertTrue(!retryAt.isBefore(now.plusSeconds(5)) && !retryAt.isAfter(now.plusSeconds(10)), retryAt.toString());
    assertEquals(0, (int) server.jdbi().withHandle(h -> h.createQuery("SELECT count(*) FROM jobs WHERE subject_id LIKE 'good-%'")
        .mapTo(Integer.class).one()));

    // Not due again yet.
    assertEquals(0, runner.runOnce());
    assertEquals(1, row("bad-1").get("attempts"));

    server.clock.advance(Duration.ofMinutes(1));
    runner.runOnce();
    assertEquals(2, row("bad-1").get("attempts"));
    server.clock.advance(Duration.ofMinutes(1));
    runner.runOnce();
    Map<String, Object> parked = row("bad-1");
    assertEquals(3, parked.get("attempts"));
    assertNotNull(parked.get("parked_time"));

    // Parked: never claimed again.
    server.clock.advance(Duration.ofHours(1));
    runner.runOnce();
    assertEquals(3, row("bad-1").get("attempts"));
  }

  @Test
  void rescheduling_whileAJobRuns_keepsTheNewSchedule() {
    UnitOfWork uow = server.platform.uow();
    Instant now = server.clock.instant();
    // Something the job does makes it due again later (as a leave re-arms the empty timeout).
    JobHandler reschedules = handler((tx, subjectId) -> tx.schedule(KIND, subjectId, now.plus(Duration.ofMinutes(5))));
    schedule(uow, "again", now);
    new JobRunner(uow, List.of(reschedules), JobRunner.Settings.defaults()).runOnce();
    Map<String, Object> row = row("again");
    assertNotNull(row, "the re-scheduled job was deleted");
    assertEquals(now.plus(Duration.ofMinutes(5)), ((java.sql.Timestamp) row.get("due_time")).toInstant());
  }

  @Test
  void anErrorThrownByAJob_doesNotStopTheSchedule() throws Exception {
    UnitOfWork uow = new UnitOfWork(server.jdbi(), Clock.systemUTC(), Duration.ofSeconds(10));
    JobRunner runner = new JobRunner(uow, List.of(new Recorder()), JobRunner.Settings.defaults());
    Instant now = Instant.now();
    schedule(uow, "err-1", now);
    runner.start(Duration.ofMillis(50));
    try {
      Thread.sleep(300);
      schedule(uow, "good-after", Instant.now());
      for (int i = 0; i < 200 && !ran.contains("good-after"); i++) {
        Thread.sleep(50);
      }
      assertTrue(ran.contains("good-after"), "a job scheduled after the Error never ran");
      assertEquals(1, row("err-1").get("attempts"));
    } finally {
      runner.close();
    }
  }

  @Test
  void aJobScheduledDueNow_runsAtOnce_notAtTheNextRound() throws Exception {
    UnitOfWork uow = new UnitOfWork(server.jdbi(), Clock.systemUTC(), Duration.ofSeconds(10));
    JobRunner runner = new JobRunner(uow, List.of(new Recorder()), JobRunner.Settings.defaults());
    runner.start(Duration.ofHours(1)); // no scheduled round in this test's lifetime
    try {
      schedule(uow, "later", Instant.now().plus(Duration.ofMinutes(5)));
      for (int i = 0; i < 20; i++) {
        schedule(uow, "now-" + i, Instant.now());
        for (int t = 0; t < 1000 && !ran.contains("now-" + i); t++) { // 10 s, far below the hour
          Thread.sleep(10);
        }
        assertTrue(ran.contains("now-" + i), "the commit that made now-" + i + " due did not wake the runner");
      }
      assertFalse(ran.contains("later"), "a job due later waits for its time");
      assertNotNull(row("later"));
    } finally {
      runner.close();
    }
    schedule(uow, "after-close", Instant.now());
    Thread.sleep(200);
    assertFalse(ran.contains("after-close"), "a closed runner is not woken");
  }

  @Test
  void close_letsTheRunningJobFinish() throws Exception {
    UnitOfWork uow = new UnitOfWork(server.jdbi(), Clock.systemUTC(), Duration.ofSeconds(30));
    CountDownLatch entered = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    JobHandler slow = handler((tx, subjectId) -> {
      entered.countDown();
      try {
        release.await(20, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        throw new IllegalStateException("interrupted: close did not wait");
      }
      tx.append("test", subjectId, "DONE", Map.of());
    });
    JobRunner runner = new JobRunner(uow, List.of(slow), JobRunner.Settings.defaults());
    schedule(uow, "slow", Instant.now());
    runner.start(Duration.ofMillis(20));
    assertTrue(entered.await(10, TimeUnit.SECONDS));
    CompletableFuture<Void> closing = CompletableFuture.runAsync(runner::close);
    Thread.sleep(300);
    assertFalse(closing.isDone(), "close returned while a job was running");
    release.countDown();
    closing.get(10, TimeUnit.SECONDS);
    assertNull(row("slow"), "the job did not complete");
    assertEquals(1, (int) server.jdbi().withHandle(h -> h.createQuery(
        "SELECT count(*) FROM events WHERE aggregate_type = 'test' AND aggregate_id = 'slow'").mapTo(Integer.class).one()));
  }
}
