package dev.convene.server.session;

import static dev.convene.server.session.SessionStatusMachine.COMPLETED;
import static dev.convene.server.session.SessionStatusMachine.NO_SHOW;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Jdbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The automatic endings of DESIGN.md's status machine: NO_SHOW once the grace after the scheduled
 * start has passed, COMPLETED once an in-progress session has been empty for its timeout. Rows
 * are claimed with FOR UPDATE SKIP LOCKED, so any number of replicas can run this at once and
 * each session moves exactly once.
 */
public final class SessionJobs implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SessionJobs.class);
  static final String ACTOR = "system:session-jobs";
  private static final int BATCH = 100;

  private final Jdbi jdbi;
  private final Clock clock;
  private ScheduledExecutorService scheduler;

  public SessionJobs(Jdbi jdbi, Clock clock) {
    this.jdbi = jdbi;
    this.clock = clock;
  }

  /** Runs {@link #runOnce} every {@code interval} on a thread of its own until closed. */
  public void start(Duration interval) {
    scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "convene-session-jobs");
      t.setDaemon(true);
      return t;
    });
    scheduler.scheduleWithFixedDelay(() -> {
      try {
        runOnce();
      } catch (RuntimeException e) {
        // The database may be away; the next run tries again.
        log.warn("Session jobs failed this round: {}", e.toString());
      }
    }, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** One pass over every due session; returns how many sessions it moved. */
  public int runOnce() {
    int moved = 0;
    int batch;
    do {
      batch = noShowBatch();
      moved += batch;
    } while (batch == BATCH);
    do {
      batch = emptyBatch();
      moved += batch;
    } while (batch == BATCH);
    return moved;
  }

  private int noShowBatch() {
    return jdbi.inTransaction(h -> {
      Instant now = clock.instant();
      List<SessionRow> due = h.attach(SessionDao.class).claimNoShows(now, BATCH);
      for (SessionRow s : due) {
        SessionTransaction tx = new SessionTransaction(h, s.tenantId(), clock, ACTOR);
        List<String> missing = tx.dao().rolesNeverJoined(s.id());
        tx.moveTo(tx.locked(s), NO_SHOW, "no-show grace passed", missing, null);
      }
      return due.size();
    });
  }

  private int emptyBatch() {
    return jdbi.inTransaction(h -> {
      Instant now = clock.instant();
      List<SessionRow> due = h.attach(SessionDao.class).claimEmpty(now, BATCH);
      for (SessionRow s : due) {
        // The call ended when the last participant left, not when this job noticed.
        SessionTransaction tx = new SessionTransaction(h, s.tenantId(), clock, ACTOR);
        tx.moveTo(tx.locked(s), COMPLETED, "empty timeout passed", List.of(), s.emptySince());
      }
      return due.size();
    });
  }

  @Override
  public void close() {
    if (scheduler != null) {
      scheduler.shutdownNow();
    }
  }
}
